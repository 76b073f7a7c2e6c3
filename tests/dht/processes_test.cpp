#define CAF_SUITE dht.processes
#include <caf/test/unit_test.hpp>

#include <csignal>

#include "actors/dht/client.hpp"
#include "runtime/node_config.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;

namespace {

constexpr size_t node_count = 5;

struct fixture {
  std::vector<process> procs;
  std::vector<uint16_t> ports;
  std::string dir;

  fixture() {
    dir = temp_dir("dht-procs");
    for (size_t i = 0; i < node_count; ++i)
      ports.push_back(free_port());
    auto bootstrap = "127.0.0.1:" + std::to_string(ports[0]);
    for (size_t i = 0; i < node_count; ++i) {
      std::vector<std::string> args{DMOE_NODE_BINARY};
      if (i == 0) {
        args.push_back("--config-file=" DMOE_CONFIG_DIR "/dht-bootstrap.ini");
      } else {
        args.push_back("--config-file=" DMOE_CONFIG_DIR "/dht-node.ini");
        args.push_back("--dht.bootstrap=[\"" + bootstrap + "\"]");
      }
      args.push_back("--node.name=\"dht-" + std::to_string(i) + "\"");
      args.push_back("--node.port=" + std::to_string(ports[i]));
      procs.push_back(launch(args, dir + "/node-" + std::to_string(i) + ".log"));
      CAF_REQUIRE(procs.back().pid > 0);
      // All five start at once: nodes that come up before the bootstrap node listens join on
      // a retry. (This once looked like a DHT hang; it was this test process sending no
      // heartbeats, so the nodes dropped its idle connections: node_config now turns them on.)
    }
  }

  ~fixture() {
    kill_all_launched(procs);
  }

  void dump_logs() {
    for (auto& p : procs)
      CAF_MESSAGE(p.log_path << ":\n" << read_file(p.log_path));
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(process_tests, fixture)

CAF_TEST(five dmoe-node processes store get and survive a SIGKILL) {
  node_config cfg;
  CAF_REQUIRE(!cfg.parse_and_validate(std::vector<std::string>{}));
  caf::actor_system system{cfg};
  std::vector<dht::access_actor> nodes;  // what each node publishes is its gateway
  for (auto port : ports) {
    nodes.push_back(caf::actor_cast<dht::access_actor>(connect_node(system, port)));
    if (!nodes.back())
      dump_logs();
    CAF_REQUIRE(nodes.back());
  }
  // Store through node 1 until all five nodes hold the item (the last ones may still be joining).
  size_t replicas = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (replicas < node_count && std::chrono::steady_clock::now() < deadline) {
    auto stored = dht::store(system, nodes[1], "ffn.0.1", "server-a", "127.0.0.1:7000",
                             dht::wall_clock() + 300);
    if (stored)
      replicas = stored->replicas;
    if (replicas < node_count)
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  CAF_MESSAGE("item stored on " << replicas << " of " << node_count << " nodes");
  if (replicas < node_count)
    dump_logs();
  CAF_REQUIRE_EQUAL(replicas, node_count);
  auto got = dht::get(system, nodes[3], "ffn.0.1");
  if (!got) {
    CAF_MESSAGE("get failed: " << describe(got.error()));
    dump_logs();
  }
  CAF_REQUIRE(got);
  CAF_REQUIRE_EQUAL(got->items.size(), 1u);
  CAF_CHECK_EQUAL(got->items[0].value, "127.0.0.1:7000");

  // SIGKILL the node the item was stored through: no goodbye, the others still answer.
  kill(procs[1].pid, SIGKILL);
  CAF_CHECK_EQUAL(wait_exit(procs[1].pid, std::chrono::seconds(5)), 128 + SIGKILL);
  procs[1].pid = -1;
  for (size_t i : {0u, 2u, 4u}) {
    auto after = dht::get(system, nodes[i], "ffn.0.1");
    CAF_REQUIRE(after);
    CAF_REQUIRE_EQUAL(after->items.size(), 1u);
    CAF_CHECK_EQUAL(after->items[0].subkey, "server-a");
  }
  // A store after the death still reaches every living node.
  auto again = dht::store(system, nodes[2], "ffn.0.2", "server-b", "127.0.0.1:7001",
                          dht::wall_clock() + 300);
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(again->replicas, node_count - 1);

  // The rest stop cleanly on SIGTERM.
  for (size_t i = 0; i < node_count; ++i)
    if (procs[i].pid > 0) {
      kill(procs[i].pid, SIGTERM);
      CAF_CHECK_EQUAL(wait_exit(procs[i].pid, std::chrono::seconds(10)), 0);
      procs[i].pid = -1;
    }
}

CAF_TEST(a bad config or a taken port stops dmoe-node with a clear message) {
  auto run = [&](std::vector<std::string> args, const std::string& name) {
    args.insert(args.begin(), DMOE_NODE_BINARY);
    auto p = launch(args, dir + "/" + name + ".log");
    auto rc = wait_exit(p.pid, std::chrono::seconds(10));
    return std::make_pair(rc, read_file(dir + "/" + name + ".log"));
  };
  auto [rc1, out1] = run({"--config-file=" DMOE_CONFIG_DIR "/dht-node.ini", "--dht.kk=3"}, "unknown");
  CAF_CHECK_EQUAL(rc1, 2);
  CAF_CHECK_NOT_EQUAL(out1.find("dht.kk"), std::string::npos);
  // Port of the running bootstrap node: already in use.
  auto [rc2, out2] = run({"--config-file=" DMOE_CONFIG_DIR "/dht-bootstrap.ini",
                          "--node.port=" + std::to_string(ports[0])},
                         "port");
  CAF_CHECK_EQUAL(rc2, 1);
  CAF_CHECK_NOT_EQUAL(out2.find("cannot listen"), std::string::npos);
  CAF_MESSAGE(out2);
}

CAF_TEST_FIXTURE_SCOPE_END()
