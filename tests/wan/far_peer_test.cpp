// wan.far_peer: connecting to a node 600 ms of round trip away (dmoe-link, 300 ms each way).
// CAF 0.17's middleman loses such a connection at its first heartbeat tick (200 ms in dmoe)
// because the peer's handshake has not arrived yet; dmoe dials itself and hands the socket to
// CAF only once the handshake is readable (runtime/node_dial.hpp). The node behind the link
// passes its own dial-back check through the link, and the test's DHT node joins through it.
#define CAF_SUITE wan.far_peer
#include <caf/test/unit_test.hpp>

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include <thread>

#include "actors/dht/node.hpp"
#include "messages/errors.hpp"
#include "messages/type_ids.hpp"
#include "runtime/node_config.hpp"
#include "runtime/node_dial.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* one_way_delay = "300ms";

struct far_peer_fixture {
  std::string dir = temp_dir("far-peer");
  process link;
  process node;
  uint16_t link_port = free_port();
  uint16_t node_port = free_port();
  node_config cfg;  // dmoe's 200 ms heartbeat
  std::unique_ptr<caf::actor_system> system;

  far_peer_fixture() {
    link = launch({DMOE_LINK_BINARY, "--listen", "127.0.0.1:" + std::to_string(link_port),
                   "--target", "127.0.0.1:" + std::to_string(node_port), "--delay", one_way_delay},
                  dir + "/link.log");
    CAF_REQUIRE(wait_listening(link_port, 10s));
    node = launch({DMOE_NODE_BINARY, "--node.name=\"far-node\"", "--node.roles=[\"dht\"]",
                   "--node.port=" + std::to_string(node_port),
                   "--node.advertise=\"127.0.0.1:" + std::to_string(link_port) + "\"",
                   "--node.log-level=\"debug\""},
                  dir + "/node.log");
    CAF_REQUIRE(wait_listening(node_port, 20s));
    // Its dial-back check crosses the link: a node that failed it exits with code 1.
    CAF_REQUIRE(poll_until([&] { return read_file(dir + "/node.log").find("reached this node")
                                        != std::string::npos; },
                           10000ms, 100ms));
    CAF_REQUIRE_EQUAL(wait_exit(node.pid, 0ms), -1);
    CAF_REQUIRE(!cfg.parse_and_validate(std::vector<std::string>{}));
    system = std::make_unique<caf::actor_system>(cfg);
  }

  ~far_peer_fixture() {
    system.reset();
    for (auto* p : {&node, &link}) {
      kill(p->pid, SIGTERM);
      if (wait_exit(p->pid, 5000ms) < 0) {
        kill(p->pid, SIGKILL);
        wait_exit(p->pid, 2000ms);
      }
    }
  }

  std::string info_of(const caf::actor& gateway) {
    caf::scoped_actor self{*system};
    std::string info;
    self->request(gateway, 10s, dht::dht_info_atom::value)
      .receive([&](std::string& text) { info = std::move(text); },
               [&](caf::error& err) { CAF_FAIL("no DHT info: " << system->render(err)); });
    return info;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(far_peer_tests, far_peer_fixture)

CAF_TEST(dial_node reaches the node through the link) {
  auto started = std::chrono::steady_clock::now();
  auto gateway = dial_node(*system, "127.0.0.1", link_port, 5000ms);
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started);
  if (!gateway)
    CAF_FAIL("dial_node: " << message_of(gateway.error()));
  CAF_MESSAGE("dialed in " << ms.count() << " ms");
  CAF_CHECK_GREATER_OR_EQUAL(ms.count(), 300.0);  // the handshake crossed the link
  CAF_CHECK(!info_of(*gateway).empty());
  std::this_thread::sleep_for(1500ms);  // several heartbeat ticks later, still connected
  CAF_CHECK(!info_of(*gateway).empty());
}

CAF_TEST(a dht node joins through a bootstrap peer 600 ms away) {
  dht::node_setup setup;
  setup.name = "test/dht";
  setup.options.bootstrap = {"127.0.0.1:" + std::to_string(link_port)};
  auto local = dht::spawn_node(*system, setup);
  caf::scoped_actor self{*system};
  uint32_t contacts = 0;
  self->request(local, 30s, dht::dht_start_atom::value, std::string{})
    .receive([&](uint32_t n) { contacts = n; },
             [&](caf::error& err) { CAF_FAIL("start failed: " << system->render(err)); });
  CAF_CHECK_GREATER(contacts, 0u);
  caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
  self->wait_for(local);
}

CAF_TEST_FIXTURE_SCOPE_END()
