#include "runtime/tcp_probe.hpp"

#include <cerrno>
#include <cstring>
#include <memory>

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "messages/errors.hpp"

namespace dmoe {

namespace {

struct fd_closer {
  int fd;
  ~fd_closer() {
    if (fd >= 0)
      close(fd);
  }
};

}  // namespace

caf::error tcp_probe(const std::string& host, uint16_t port, std::chrono::milliseconds timeout) {
  auto where = host + ":" + std::to_string(port);
  auto fail = [&](const std::string& why) {
    return make_error(errc::unavailable, "cannot connect to " + where + ": " + why);
  };
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
    return fail(gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses{found, freeaddrinfo};
  fd_closer sock{socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (sock.fd < 0)
    return fail(std::strerror(errno));
  if (connect(sock.fd, found->ai_addr, found->ai_addrlen) == 0)
    return caf::none;
  if (errno != EINPROGRESS)
    return fail(std::strerror(errno));
  pollfd p{sock.fd, POLLOUT, 0};
  int ready = poll(&p, 1, static_cast<int>(timeout.count()));
  if (ready == 0)
    return fail("no answer within " + std::to_string(timeout.count()) + " ms");
  if (ready < 0)
    return fail(std::strerror(errno));
  int so_error = 0;
  socklen_t len = sizeof(so_error);
  getsockopt(sock.fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0)
    return fail(std::strerror(so_error));
  return caf::none;
}

}  // namespace dmoe
