// Row 2 of the second round against hostile peers: a peer that asks and never reads. It stores
// 130 items of 60 KiB under one key of a real dmoe-node DHT node, sends 100 gets of that key (an
// 8 MB reply each, ~800 MB in all) and stops reading (SIGSTOP, once the first reply came).
// The node disconnects it once limits.max-unsent-bytes wait for it, its memory stays bounded,
// and an honest peer is served.
// The attacker is a process of its own (slow_reader.cpp).
#define CAF_SUITE hostile.buffers
#include <caf/test/unit_test.hpp>

#include <filesystem>

#include <caf/scoped_actor.hpp>

#include "actors/dht/client.hpp"
#include "runtime/node_config.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;
using namespace std::chrono_literals;

namespace {

constexpr size_t items = 130;  // 8 MB: what one key may hold (dht.max-key-bytes)
constexpr size_t value_bytes = 60 << 10;
constexpr size_t gets = 100;
constexpr size_t max_unsent = 32 << 20;

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
  auto attacker = launch({DMOE_SLOW_READER_BINARY, std::to_string(port), std::to_string(items),
                          std::to_string(value_bytes), std::to_string(gets)},
                         dir + "/attacker.log");
  CAF_REQUIRE(attacker.pid > 0);
  // Stopped once the first reply came (the gets reached the node), unless the node has cut it
  // off already: it asked for more than it read fast enough (its reading is not fast).
  auto cut_off = [&] {
    return read_file(node.log_path).find("does not read them") != std::string::npos;
  };
  CAF_REQUIRE(poll_until(
    [&] { return read_file(attacker.log_path).find("ready") != std::string::npos || cut_off(); },
    90s, 20ms));
  ::kill(attacker.pid, SIGSTOP);
  // The node answers the gets meanwhile; the replies pile up for the stopped peer (on a loaded
  // machine answering them takes a while: the node is watched until it disconnects the peer).
  size_t peak = 0;
  auto disconnected = false;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!disconnected && std::chrono::steady_clock::now() < deadline) {
    peak = std::max(peak, rss_bytes(node.pid));
    std::this_thread::sleep_for(250ms);
    disconnected = cut_off();
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
  kill_launched(attacker.pid);
  kill_launched(node.pid);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}
