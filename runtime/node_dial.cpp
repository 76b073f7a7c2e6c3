#include "runtime/node_dial.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <memory>
#include <vector>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <fmt/core.h>

#include "messages/errors.hpp"
#include "runtime/wire_guard.hpp"

namespace dmoe {

namespace {

using clock_type = std::chrono::steady_clock;

struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0)
      close(fd);
  }
  int release() {
    return std::exchange(fd, -1);
  }
};

}  // namespace

int wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    if (left.count() <= 0)
      return ETIMEDOUT;
    pollfd p{fd, events, 0};
    int ready = poll(&p, 1, static_cast<int>(left.count()));
    if (ready > 0)
      return 0;
    if (ready < 0 && errno != EINTR)
      return errno;
  }
}

caf::expected<int> connect_until_readable(caf::actor_system& system, const std::string& host,
                                          uint16_t port, std::chrono::milliseconds timeout) {
  auto where = host + ":" + std::to_string(port);
  auto fail = [&](const std::string& why) -> caf::expected<int> {
    return make_error(errc::unavailable, "cannot connect to " + where + ": " + why);
  };
  auto deadline = clock_type::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
    return fail(gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses{found, freeaddrinfo};
  fd_guard sock{socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (sock.fd < 0)
    return fail(std::strerror(errno));
  int one = 1;
  setsockopt(sock.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // RPCs, not streams
  if (auto source = wire_source_address(system); !source.empty()) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    if (inet_pton(AF_INET, source.c_str(), &local.sin_addr) != 1)
      return fail("the source address '" + source + "' is not an IPv4 address");
    if (bind(sock.fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0)
      return fail("cannot use the source address " + source + ": " + std::strerror(errno));
  }
  if (connect(sock.fd, found->ai_addr, found->ai_addrlen) != 0) {
    if (errno != EINPROGRESS)
      return fail(std::strerror(errno));
    if (int err = wait_for(sock.fd, POLLOUT, deadline); err != 0)
      return fail(err == ETIMEDOUT ? "no answer within " + std::to_string(timeout.count()) + " ms"
                                   : std::strerror(err));
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    getsockopt(sock.fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0)
      return fail(std::strerror(so_error));
  }
  if (auto tls = wire_tls(system)) {
    auto session = tls_connect(*tls, sock.fd, deadline);
    if (!session)
      return fail(message_of(session.error()));
    keep_secured_dial(system, sock.fd, std::move(*session));
    return sock.release();
  }
  if (int err = wait_for(sock.fd, POLLIN, deadline); err != 0)
    return fail(err == ETIMEDOUT ? "connected, but no handshake within "
                                     + std::to_string(timeout.count())
                                     + " ms (a node with TLS waits for one, see [tls])"
                                 : std::strerror(err));
  char byte = 0;
  auto n = recv(sock.fd, &byte, 1, MSG_PEEK);
  if (n == 0)
    return fail("the peer closed the connection before its handshake");
  if (n < 0)
    return fail(std::strerror(errno));
  return sock.release();
}

caf::actor basp_broker(caf::actor_system& system) {
  return system.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
}

caf::expected<caf::actor> published_actor(caf::strong_actor_ptr ptr,
                                          const actor_interface& published,
                                          const actor_interface& required,
                                          const std::string& where) {
  auto handle = caf::actor_cast<caf::actor>(std::move(ptr));
  if (!handle)
    return make_error(errc::unavailable, "no actor published at " + where);
  if (!std::includes(published.begin(), published.end(), required.begin(), required.end())) {
    std::vector<std::string> missing;
    std::set_difference(required.begin(), required.end(), published.begin(), published.end(),
                        std::back_inserter(missing));
    return make_error(errc::unavailable,
                      fmt::format("the actor published at {} does not speak the protocol this "
                                  "dialer needs ({} of its {} messages missing, e.g. {}): another "
                                  "dmoe version, or another kind of actor",
                                  where, missing.size(), required.size(), missing.front()));
  }
  return handle;
}

caf::expected<caf::actor> dial_node(caf::actor_system& system, const std::string& host,
                                    uint16_t port, std::chrono::milliseconds timeout,
                                    const actor_interface& required) {
  auto fd = connect_until_readable(system, host, port, timeout);
  if (!fd)
    return fd.error();
  caf::scoped_actor self{system};
  caf::expected<caf::actor> result = make_error(errc::unavailable, "no reply");
  auto where = host + ":" + std::to_string(port);
  self->request(basp_broker(system), timeout, caf::connect_atom::value, guarded_scribe(system, *fd),
                port)
    .receive(
      [&](const caf::node_id&, caf::strong_actor_ptr& ptr, const actor_interface& published) {
        result = published_actor(std::move(ptr), published, required, where);
      },
      [&](caf::error& err) {
        result = make_error(errc::unavailable,
                            "cannot connect to " + where + ": " + system.render(err));
      });
  return result;
}

}  // namespace dmoe
