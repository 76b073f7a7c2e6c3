// dmoe-link as a process, between a test client and an echo server on loopback: the delay and the
// rate are felt end to end (lower bounds only: a loaded machine may add time, never remove it),
// outages hold or reset connections, and bad arguments stop it with a message naming the value.
#define CAF_SUITE link.process
#include <caf/test/unit_test.hpp>

#include <netinet/tcp.h>
#include <poll.h>

#include <atomic>
#include <thread>

#include "tests/process_util.hpp"

using namespace dmoe;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

/// Echoes every byte back, one thread per connection, on 127.0.0.1:port.
class echo_server {
public:
  echo_server() {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CAF_REQUIRE(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    CAF_REQUIRE(listen(listener_, 16) == 0);
    socklen_t len = sizeof(addr);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] {
      for (;;) {
        int fd = accept(listener_, nullptr, nullptr);
        if (fd < 0)
          return;
        std::thread([fd] {
          std::vector<char> buf(1 << 16);
          for (;;) {
            auto n = recv(fd, buf.data(), buf.size(), 0);
            if (n <= 0 || send(fd, buf.data(), static_cast<size_t>(n), MSG_NOSIGNAL) != n)
              break;
          }
          close(fd);
        }).detach();
      }
    });
  }
  ~echo_server() {
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    acceptor_.join();
  }
  uint16_t port = 0;

private:
  int listener_ = -1;
  std::thread acceptor_;
};

int dial(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

/// Reads exactly n bytes within `limit`; false on timeout or a closed connection.
bool read_exactly(int fd, size_t n, std::chrono::milliseconds limit) {
  auto deadline = clock_type::now() + limit;
  std::vector<char> buf(1 << 16);
  while (n > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return false;
    auto got = recv(fd, buf.data(), std::min(n, buf.size()), 0);
    if (got <= 0)
      return false;
    n -= static_cast<size_t>(got);
  }
  return true;
}

struct fixture {
  echo_server echo;
  std::string dir = test::temp_dir("link-test");
  std::vector<test::process> links;

  /// Starts dmoe-link in front of the echo server with `extra` arguments; returns its port.
  uint16_t start_link(std::vector<std::string> extra) {
    auto port = test::free_port();
    std::vector<std::string> args{DMOE_LINK_BINARY, "--listen", "127.0.0.1:" + std::to_string(port),
                                  "--target", "127.0.0.1:" + std::to_string(echo.port)};
    args.insert(args.end(), extra.begin(), extra.end());
    links.push_back(test::launch(args, dir + "/link-" + std::to_string(links.size()) + ".log"));
    CAF_REQUIRE(test::wait_listening(port, 10s));
    return port;
  }

  ~fixture() {
    for (auto& p : links) {
      kill(p.pid, SIGTERM);
      if (test::wait_exit(p.pid, 5000ms) != 0)
        CAF_ERROR("dmoe-link did not stop cleanly on SIGTERM: " << test::read_file(p.log_path));
    }
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(link_process_tests, fixture)

CAF_TEST(a round trip takes at least twice the one-way delay) {
  auto port = start_link({"--delay", "60ms"});
  int fd = dial(port);
  CAF_REQUIRE(fd >= 0);
  for (int i = 0; i < 3; ++i) {
    auto started = clock_type::now();
    CAF_REQUIRE(send(fd, "x", 1, 0) == 1);
    CAF_REQUIRE(read_exactly(fd, 1, 5000ms));
    auto rtt = ms_since(started);
    CAF_CHECK_GREATER_OR_EQUAL(rtt, 119.0);
    CAF_MESSAGE("round trip " << rtt << " ms through a 60 ms link");
  }
  close(fd);
}

CAF_TEST(the rate caps each direction) {
  // 4 Mbit/s: 500 kB take one second each way; both directions pipeline, so about 1 s in all.
  auto port = start_link({"--rate", "4mbit"});
  int fd = dial(port);
  CAF_REQUIRE(fd >= 0);
  std::vector<char> data(500000, 'r');
  auto started = clock_type::now();
  std::thread writer([&] { send(fd, data.data(), data.size(), MSG_NOSIGNAL); });
  CAF_CHECK(read_exactly(fd, data.size(), 20000ms));
  writer.join();
  auto took = ms_since(started);
  CAF_CHECK_GREATER_OR_EQUAL(took, 990.0);
  CAF_MESSAGE("500 kB echoed in " << took << " ms through a 4 Mbit/s link");
  close(fd);
}

CAF_TEST(a link switched down by hand holds bytes until it is switched up) {
  auto port = start_link({"--delay", "5ms"});
  int fd = dial(port);
  CAF_REQUIRE(fd >= 0);
  CAF_REQUIRE(send(fd, "a", 1, 0) == 1);
  CAF_REQUIRE(read_exactly(fd, 1, 5000ms));
  kill(links.back().pid, SIGUSR1);
  CAF_REQUIRE(test::poll_until(
    [&] { return test::read_file(links.back().log_path).find("link down") != std::string::npos; },
    5000ms));
  CAF_REQUIRE(send(fd, "b", 1, 0) == 1);
  CAF_CHECK(!read_exactly(fd, 1, 700ms));  // held while down
  kill(links.back().pid, SIGUSR2);
  CAF_CHECK(read_exactly(fd, 1, 5000ms));  // and delivered once up, connection intact
  CAF_REQUIRE(send(fd, "c", 1, 0) == 1);
  CAF_CHECK(read_exactly(fd, 1, 5000ms));
  close(fd);
}

CAF_TEST(a scheduled outage delays what is sent during it) {
  auto port = start_link({"--outage", "0s+1500ms"});
  int fd = dial(port);
  CAF_REQUIRE(fd >= 0);
  auto started = clock_type::now();
  CAF_REQUIRE(send(fd, "o", 1, 0) == 1);
  CAF_CHECK(read_exactly(fd, 1, 10000ms));
  // The outage began when the link started, a little before this connection.
  CAF_CHECK_GREATER_OR_EQUAL(ms_since(started), 700.0);
  close(fd);
}

CAF_TEST(reset mode closes connections at an outage and refuses new ones during it) {
  auto port = start_link({"--outage-mode", "reset"});
  int fd = dial(port);
  CAF_REQUIRE(fd >= 0);
  CAF_REQUIRE(send(fd, "a", 1, 0) == 1);
  CAF_REQUIRE(read_exactly(fd, 1, 5000ms));
  kill(links.back().pid, SIGUSR1);
  // The relay closes the connection: the next read sees the end.
  pollfd p{fd, POLLIN, 0};
  CAF_REQUIRE(poll(&p, 1, 5000) == 1);
  char byte = 0;
  CAF_CHECK_LESS_OR_EQUAL(recv(fd, &byte, 1, 0), 0);
  close(fd);
  int during = dial(port);  // accepted by the kernel, then closed by the relay
  CAF_REQUIRE(during >= 0);
  p = pollfd{during, POLLIN, 0};
  CAF_REQUIRE(poll(&p, 1, 5000) == 1);
  CAF_CHECK_LESS_OR_EQUAL(recv(during, &byte, 1, 0), 0);
  close(during);
  kill(links.back().pid, SIGUSR2);
  CAF_REQUIRE(test::poll_until(
    [&] { return test::read_file(links.back().log_path).find("link up") != std::string::npos; },
    5000ms));
  int after = dial(port);
  CAF_REQUIRE(after >= 0);
  CAF_REQUIRE(send(after, "z", 1, 0) == 1);
  CAF_CHECK(read_exactly(after, 1, 5000ms));
  close(after);
}

CAF_TEST(bad arguments stop it with a message that names the value) {
  struct bad_case {
    std::vector<std::string> args;
    std::string expected;
    int code;
  };
  auto busy = test::free_port();
  int holder = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(busy);
  CAF_REQUIRE(bind(holder, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  CAF_REQUIRE(listen(holder, 1) == 0);
  auto target = "127.0.0.1:" + std::to_string(echo.port);
  std::vector<bad_case> cases{
    {{"--listen", "127.0.0.1:0", "--target", target}, "'127.0.0.1:0'", 2},
    {{"--listen", "127.0.0.1:5000", "--target", "nowhere"}, "'nowhere'", 2},
    {{"--listen", "999.0.0.1:5000", "--target", target}, "'999.0.0.1'", 2},
    {{"--listen", "127.0.0.1:5000", "--target", target, "--delay", "-5ms"}, "'-5ms'", 2},
    {{"--listen", "127.0.0.1:5000", "--target", target, "--jitter", "lots"}, "'lots'", 2},
    {{"--listen", "127.0.0.1:5000", "--target", target, "--rate", "10mb"}, "'10mb'", 2},
    {{"--listen", "127.0.0.1:5000", "--target", target, "--outage", "5s"}, "'5s'", 2},
    {{"--listen", "127.0.0.1:5000", "--target", target, "--outage-mode", "drop"}, "'drop'", 2},
    {{"--listen", "127.0.0.1:" + std::to_string(busy), "--target", target},
     "127.0.0.1:" + std::to_string(busy), 1},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<std::string> args{DMOE_LINK_BINARY};
    args.insert(args.end(), cases[i].args.begin(), cases[i].args.end());
    auto log_path = dir + "/bad-" + std::to_string(i) + ".log";
    auto p = test::launch(args, log_path);
    auto code = test::wait_exit(p.pid, 10000ms);
    auto output = test::read_file(log_path);
    CAF_CHECK_EQUAL(code, cases[i].code);
    CAF_CHECK_NOT_EQUAL(output.find(cases[i].expected), std::string::npos);
    if (code == -1)
      kill(p.pid, SIGKILL);
    CAF_MESSAGE("refused: " << output.substr(0, output.find('\n')));
  }
  close(holder);
}

CAF_TEST_FIXTURE_SCOPE_END()
