// Row 3 of the second round against hostile peers: forged BASP down messages. Two real
// dmoe-node DHT nodes on loopback, the victim knowing the other as a contact (it watches the
// other's gateway). A peer with a raw socket tells the victim that the other node's gateway went
// down: CAF 0.17 takes the node a down message is about from its payload, so before the guard
// checked it the victim killed its proxy of the honest gateway and dropped the honest node from
// its table (peers_down 0 -> 1). Now the connection is closed, the victim keeps its contact, and
// the honest node's real end is still seen.
#define CAF_SUITE hostile.proxies
#include <caf/test/unit_test.hpp>

#include <filesystem>
#include <regex>

#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/inspector/inspector.hpp"
#include "messages/type_ids.hpp"
#include "runtime/node_config.hpp"
#include "tests/hostile/dht_victim.hpp"
#include "tests/process_util.hpp"
#include "tests/raw_basp_peer.hpp"

using namespace dmoe;
using namespace dmoe::test;
using namespace std::chrono_literals;

namespace {

struct fixture {
  std::string dir = temp_dir("hostile-proxies");
  uint16_t victim_port = free_port();
  uint16_t honest_port = free_port();
  process victim;
  process honest;
  node_config cfg;
  std::unique_ptr<caf::actor_system> system;
  caf::actor victim_gateway;

  fixture() {
    victim = launch({DMOE_NODE_BINARY, "--config-file=" DMOE_CONFIG_DIR "/dht-bootstrap.ini",
                     "--node.name=\"victim\"", "--node.port=" + std::to_string(victim_port),
                     "--node.roles=[\"dht\",\"inspector\"]"},
                    dir + "/victim.log");
    CAF_REQUIRE(victim.pid > 0);
    CAF_REQUIRE(wait_listening(victim_port, 20s));
    honest = launch({DMOE_NODE_BINARY, "--config-file=" DMOE_CONFIG_DIR "/dht-node.ini",
                     "--node.name=\"honest\"", "--node.port=" + std::to_string(honest_port),
                     "--dht.bootstrap=[\"127.0.0.1:" + std::to_string(victim_port) + "\"]",
                     "--node.roles=[\"dht\",\"inspector\"]"},
                    dir + "/honest.log");
    CAF_REQUIRE(honest.pid > 0);
    CAF_REQUIRE(wait_listening(honest_port, 20s));
    CAF_REQUIRE(!cfg.parse_and_validate(std::vector<std::string>{}));
    system = std::make_unique<caf::actor_system>(cfg);
    victim_gateway = connect_node(*system, victim_port);
    CAF_REQUIRE(victim_gateway);
  }

  ~fixture() {
    system.reset();
    kill_all_launched(std::vector<process>{victim, honest});
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

  int64_t victim_stat(const std::string& name) {
    return node_stat(*system, victim_gateway, name);
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(hostile_proxies, fixture)

CAF_TEST(a forged down message about the actor of another node kills no proxy) {
  // The victim checks the honest node's claim by dialing it back: it then watches the honest
  // node's gateway.
  CAF_REQUIRE(poll_until([&] { return victim_stat("peers_connected") >= 1; }, 30s, 100ms));
  CAF_REQUIRE_EQUAL(victim_stat("peers_down"), 0);
  // What the attacker needs is public: the honest gateway's actor id and node id.
  auto honest_gateway = connect_node(*system, honest_port);
  CAF_REQUIRE(honest_gateway);
  {
    raw_peer attacker{victim_port};
    auto victim_id = attacker.read_handshake();
    attacker.send_frame(basp::header{basp::message_type::client_handshake, 0, 0, 0, 0, 0},
                        serialized(stranger_id()));
    auto forged = serialized(honest_gateway.node(), victim_id,
                             caf::make_error(caf::exit_reason::kill));
    attacker.send_frame(
      basp::header{basp::message_type::down_message, 0, 0, 0, honest_gateway.id(), 0}, forged);
    CAF_CHECK(attacker.closed_by_node());
  }
  // A down message is handled after a short delay (CAF queues it behind in-flight messages).
  std::this_thread::sleep_for(2s);
  CAF_CHECK_EQUAL(victim_stat("peers_down"), 0);
  CAF_CHECK_GREATER_OR_EQUAL(victim_stat("peers_connected"), 1);
  auto text = read_file(victim.log_path);
  CAF_CHECK(text.find("a down message about node") != std::string::npos);
  // The honest node's real end is still seen.
  kill(honest.pid, SIGKILL);
  CAF_CHECK(poll_until([&] { return victim_stat("peers_down") == 1; }, 20s, 100ms));
}

CAF_TEST_FIXTURE_SCOPE_END()
