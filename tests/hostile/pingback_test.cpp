// Row 13 of the second round against hostile peers: the ping-back. A DHT node learns a new
// sender only after dialing the endpoint the sender claims; a peer that claims endpoints at will
// made a real dmoe-node dial any host:port it named, up to 64 at once, each dial on a thread of
// its own, and again as soon as a check ended. Here a peer sends pings for 6 s claiming 100
// endpoints on loopback, where the test listens and counts the node's dials. The bounds of
// actors/dht/claim_checks.hpp hold: at most 32 + 4 per second dials, no endpoint dialed twice
// within 60 s, at most 8 dials (threads) at once; and an honest peer is still served.
#define CAF_SUITE hostile.pingback
#include <caf/test/unit_test.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/scoped_actor.hpp>

#include "actors/dht/client.hpp"
#include "actors/dht/node.hpp"
#include "actors/dht/node_id.hpp"
#include "actors/dht/ownership.hpp"
#include "actors/inspector/inspector.hpp"
#include "messages/type_ids.hpp"
#include "runtime/node_config.hpp"
#include "tests/hostile/dht_victim.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;
using namespace std::chrono_literals;

namespace {

constexpr size_t claimed_endpoints = 100;
constexpr auto attack_time = 6s;
// actors/dht/claim_checks.hpp's defaults
constexpr double burst = 32;
constexpr double per_second = 4;
constexpr size_t at_once = 8;

/// Listening sockets on loopback that count the connections made to each and keep them open
/// (silent: the node's check waits until its dial times out).
struct listeners {
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  std::vector<std::atomic<int>> accepted;
  std::vector<int> held;
  std::atomic<bool> stop{false};
  std::thread loop;

  explicit listeners(size_t n) : accepted(n) {
    for (size_t i = 0; i < n; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      CAF_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
      CAF_REQUIRE(::listen(fd, 64) == 0);
      socklen_t len = sizeof(addr);
      CAF_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
      fds.push_back(fd);
      ports.push_back(ntohs(addr.sin_port));
    }
    loop = std::thread{[this] { run(); }};
  }

  ~listeners() {
    stop = true;
    loop.join();
    for (auto fd : fds)
      ::close(fd);
    for (auto fd : held)
      ::close(fd);
  }

  void run() {
    std::vector<pollfd> polled;
    for (auto fd : fds)
      polled.push_back(pollfd{fd, POLLIN, 0});
    while (!stop) {
      if (::poll(polled.data(), polled.size(), 50) <= 0)
        continue;
      for (size_t i = 0; i < polled.size(); ++i)
        if (polled[i].revents & POLLIN) {
          int conn = ::accept(polled[i].fd, nullptr, nullptr);
          if (conn >= 0) {
            held.push_back(conn);
            ++accepted[i];
          }
        }
    }
  }

  int total() const {
    int n = 0;
    for (auto& a : accepted)
      n += a.load();
    return n;
  }
  int most_at_one() const {
    int n = 0;
    for (auto& a : accepted)
      n = std::max(n, a.load());
    return n;
  }
};

int threads_of(pid_t pid) {
  std::ifstream status{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Threads:", 0) == 0)
      return std::stoi(line.substr(8));
  return -1;
}

struct fixture : dht_victim {
  fixture() : dht_victim("hostile-pingback") {
  }

  /// A ping from a made-up node (an id of its own key) claiming `endpoint`; whether answered.
  bool ping_claiming(caf::scoped_actor& self, const std::string& endpoint) {
    auto key = dht::identity::generate()->public_key();
    dht::request req{dht::node_info{dht::node_id_of(key), endpoint, key}, dht::ping_request{}};
    bool answered = false;
    self->request(gateway, 10s, dht_rpc_atom::value, dht::encode(req))
      .receive([&](payload&) { answered = true; }, [](caf::error&) {});
    return answered;
  }

};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(hostile_pingback, fixture)

CAF_TEST(claimed endpoints are dialed back within bounds) {
  listeners targets{claimed_endpoints};
  auto threads_before = threads_of(node.pid);
  int threads_most = threads_before;
  caf::scoped_actor self{*system};
  size_t pings = 0;
  size_t answered = 0;
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < attack_time) {
    auto target = targets.ports[pings % claimed_endpoints];
    if (ping_claiming(self, "127.0.0.1:" + std::to_string(target)))
      ++answered;
    if (++pings % 20 == 0)
      threads_most = std::max(threads_most, threads_of(node.pid));
  }
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::this_thread::sleep_for(1s);  // dials already started land
  auto dials = targets.total();
  CAF_MESSAGE(pings << " pings (" << answered << " answered) in " << seconds << " s claiming "
                    << claimed_endpoints << " endpoints: " << dials << " dials, at most "
                    << targets.most_at_one() << " to one endpoint; node threads "
                    << threads_before << " before, at most " << threads_most << " during");
  CAF_CHECK_GREATER(answered, claimed_endpoints);  // the attack ran: the node answered
  CAF_CHECK_GREATER(dials, 0);
  CAF_CHECK_LESS_OR_EQUAL(dials, static_cast<int>(burst + per_second * (seconds + 1)) + 1);
  CAF_CHECK_LESS_OR_EQUAL(targets.most_at_one(), 1);
  CAF_CHECK_LESS_OR_EQUAL(threads_most, threads_before + static_cast<int>(at_once) + 2);
  CAF_CHECK_GREATER(stat("claims_deferred"), 0);
  // An honest peer is still served.
  auto node_handle = caf::actor_cast<dht::access_actor>(gateway);
  auto stored = dht::store(*system, node_handle, "honest", "peer", "127.0.0.1:7000",
                           dht::wall_clock() + 60);
  CAF_CHECK(stored);
  auto got = dht::get(*system, node_handle, "honest");
  CAF_CHECK(got && got->items.size() == 1);
}

CAF_TEST_FIXTURE_SCOPE_END()
