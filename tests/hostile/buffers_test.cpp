// Row 2 of the second round against hostile peers: a peer that asks and never reads. It stores
// 160 items of 60 KiB under one key of a real dmoe-node DHT node, sends 100 gets of that key (a
// 9.6 MB reply each, ~960 MB in all) and stops reading (SIGSTOP, once the first reply came).
// The node disconnects it once limits.max-unsent-bytes wait for it, its memory stays bounded,
// and an honest peer is served.
// The attacker is a child process forked before this process starts any thread.
#define CAF_SUITE hostile.buffers
#include <caf/test/unit_test.hpp>

#include <filesystem>

#include <poll.h>

#include <caf/scoped_actor.hpp>

#include "actors/dht/client.hpp"
#include "runtime/node_config.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;
using namespace std::chrono_literals;

namespace {

constexpr size_t items = 160;
constexpr size_t value_bytes = 60 << 10;
constexpr size_t gets = 100;
constexpr size_t max_unsent = 32 << 20;

/// The attacker's life in the child: store the items, send the gets, tell the parent (one byte
/// on `ready`) once the first reply came, then wait to be stopped and killed.
[[noreturn]] void attack(uint16_t port, int ready) {
  node_config cfg;
  if (cfg.parse_and_validate(std::vector<std::string>{}))
    _exit(2);
  caf::actor_system system{cfg};
  auto node = caf::actor_cast<dht::access_actor>(connect_node(system, port));
  if (!node)
    _exit(3);
  for (size_t i = 0; i < items; ++i)
    if (!dht::store(system, node, "big", "s" + std::to_string(i), std::string(value_bytes, 'v'),
                    dht::wall_clock() + 600))
      _exit(4);
  caf::scoped_actor self{system};
  for (size_t i = 0; i < gets; ++i)
    self->send(node, dht::dht_get_atom::value, std::string{"big"});
  // Ready once the first reply came: the gets reached the node (on a loaded machine this
  // process may not have sent them yet right after send()).
  bool replied = false;
  self->receive([&](payload&, uint32_t, uint32_t) { replied = true; },
                [&](caf::error&) { replied = true; },
                caf::after(std::chrono::seconds(60)) >> [] {});
  if (!replied)
    _exit(6);
  char one = 1;
  if (::write(ready, &one, 1) != 1)
    _exit(5);
  for (;;)
    std::this_thread::sleep_for(1s);
}

}  // namespace

CAF_TEST(a peer that does not read is disconnected and the node stays bounded) {
  auto dir = temp_dir("hostile-buffers");
  auto port = free_port();
  auto node = launch({DMOE_NODE_BINARY, "--config-file=" DMOE_CONFIG_DIR "/dht-bootstrap.ini",
                      "--node.port=" + std::to_string(port),
                      "--limits.max-unsent-bytes=" + std::to_string(max_unsent),
                      "--middleman.connection-timeout=60s"},
                     dir + "/node.log");
  CAF_REQUIRE(node.pid > 0);
  CAF_REQUIRE(wait_listening(port, 20s));
  auto rss_before = rss_bytes(node.pid);
  int pipe_fds[2];
  CAF_REQUIRE_EQUAL(::pipe(pipe_fds), 0);
  auto attacker = ::fork();
  CAF_REQUIRE(attacker >= 0);
  if (attacker == 0)
    attack(port, pipe_fds[1]);
  track_launched(attacker);
  char got = 0;
  pollfd ready{pipe_fds[0], POLLIN, 0};
  CAF_REQUIRE_EQUAL(::poll(&ready, 1, 90'000), 1);
  CAF_REQUIRE_EQUAL(::read(pipe_fds[0], &got, 1), 1);
  ::kill(attacker, SIGSTOP);
  // The node answers the gets meanwhile; the replies pile up for the stopped peer (on a loaded
  // machine answering them takes a while: the node is watched until it disconnects the peer).
  size_t peak = 0;
  auto disconnected = false;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!disconnected && std::chrono::steady_clock::now() < deadline) {
    peak = std::max(peak, rss_bytes(node.pid));
    std::this_thread::sleep_for(250ms);
    disconnected = read_file(node.log_path).find("does not read them") != std::string::npos;
  }
  for (int i = 0; i < 8; ++i) {  // and a while after
    peak = std::max(peak, rss_bytes(node.pid));
    std::this_thread::sleep_for(250ms);
  }
  auto grown_mb = (static_cast<double>(peak) - static_cast<double>(rss_before)) / (1 << 20);
  CAF_MESSAGE(gets << " gets of " << items * value_bytes / 1000000.0 << " MB each, reader stopped: "
                   << "node RSS " << rss_before / (1 << 20) << " MB -> peak "
                   << peak / (1 << 20) << " MB; disconnected: " << disconnected);
  CAF_CHECK(disconnected);
  CAF_CHECK_LESS(grown_mb, 400.0);
  {
    node_config cfg;
    CAF_REQUIRE(!cfg.parse_and_validate(std::vector<std::string>{}));
    caf::actor_system system{cfg};
    auto honest = caf::actor_cast<dht::access_actor>(connect_node(system, port));
    CAF_REQUIRE(honest);
    auto stored = dht::store(system, honest, "small", "peer", "127.0.0.1:7000",
                             dht::wall_clock() + 60);
    CAF_CHECK(stored);
  }
  kill_launched(attacker);
  kill_launched(node.pid);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}
