// Row 9 of the second round against hostile peers: a node id claimed without its key. A DHT
// node's id is the hash of its public key, and a new sender is learned once a ping to the
// endpoint it claims is answered with the claimed id. A peer that copies another node's id and
// key (both public: every answer of that node carries them) into its answers used to pass: a real
// dmoe-node learned a real other node's id at the attacker's endpoint (contacts 0 -> 1), the
// start of an eclipse. Now every answer signs the asker's nonce with the key (key_proof), and
// the copy, which cannot sign, is refused.
#define CAF_SUITE hostile.sybil
#include <caf/test/unit_test.hpp>

#include <filesystem>
#include <regex>

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/dht/node.hpp"
#include "actors/dht/node_id.hpp"
#include "actors/dht/ownership.hpp"
#include "messages/dht_codec.hpp"
#include "runtime/node_config.hpp"
#include "tests/hostile/dht_victim.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;
using namespace std::chrono_literals;

namespace {

/// Answers every DHT request as `copied` (another node's id and key) at `endpoint`, with a
/// signature it made up: it does not hold the key.
dht::rpc_actor::behavior_type impostor(dht::rpc_actor::pointer, dht::node_info copied) {
  return {[copied](dht_rpc_atom, payload&) -> payload {
    dht::response resp{copied, dht::pong{}};
    resp.key_proof = std::string(dht::signature_bytes, 's');
    return dht::encode(resp);
  }};
}

struct fixture {
  std::string dir = temp_dir("hostile-sybil");
  uint16_t victim_port = free_port();
  uint16_t other_port = free_port();
  std::vector<process> nodes;
  node_config cfg;
  std::unique_ptr<caf::actor_system> system;
  caf::actor victim;
  caf::actor other;

  fixture() {
    for (auto [name, port] : {std::pair{"victim", victim_port}, std::pair{"other", other_port}}) {
      nodes.push_back(launch({DMOE_NODE_BINARY, "--config-file=" DMOE_CONFIG_DIR "/dht-bootstrap.ini",
                              std::string{"--node.name=\""} + name + "\"",
                              "--node.port=" + std::to_string(port),
                              "--node.roles=[\"dht\",\"inspector\"]"},
                             dir + "/" + name + ".log"));
      CAF_REQUIRE(nodes.back().pid > 0);
      CAF_REQUIRE(wait_listening(port, 20s));
    }
    CAF_REQUIRE(!cfg.parse_and_validate(std::vector<std::string>{}));
    system = std::make_unique<caf::actor_system>(cfg);
    victim = connect_node(*system, victim_port);
    other = connect_node(*system, other_port);
    CAF_REQUIRE(victim && other);
  }

  ~fixture() {
    system.reset();
    kill_all_launched(nodes);
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

  /// A ping to `node` from `sender`: the answer.
  caf::expected<dht::response> ping(const caf::actor& node, const dht::node_info& sender) {
    caf::scoped_actor self{*system};
    caf::expected<dht::response> out = make_error(errc::internal, "no answer");
    self->request(node, 10s, dht_rpc_atom::value, dht::encode(dht::request{sender, dht::ping_request{}}))
      .receive([&](payload& p) { out = dht::decode_response(p); },
               [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  int contacts(const caf::actor& node) {
    return dht_contacts(*system, node);
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(hostile_sybil, fixture)

CAF_TEST(a node id claimed with a copied key is not learned) {
  // The other node's id and key, as anyone who talks to it learns them.
  auto answer = ping(other, dht::node_info{});
  CAF_REQUIRE(answer);
  auto copied = answer->responder;
  CAF_REQUIRE(dht::holds_its_id(copied));
  // The impostor's endpoint, and the claim it sends the victim.
  auto impostor_port = free_port();
  copied.endpoint = "127.0.0.1:" + std::to_string(impostor_port);
  auto fake = system->spawn(impostor, copied);
  CAF_REQUIRE(system->middleman().publish(fake, impostor_port, "127.0.0.1", true));
  CAF_REQUIRE_EQUAL(contacts(victim), 0);
  CAF_REQUIRE(ping(victim, copied));
  CAF_CHECK(poll_until([&] { return node_stat(*system, victim, "claims_refused") >= 1; }, 10s,
                       100ms));
  CAF_CHECK_EQUAL(contacts(victim), 0);
  // The real node, claiming its own id at its own endpoint, is learned.
  auto real = answer->responder;
  CAF_REQUIRE(ping(victim, real));
  CAF_CHECK(poll_until([&] { return contacts(victim) == 1; }, 10s, 100ms));
  caf::anon_send_exit(fake, caf::exit_reason::user_shutdown);
}

CAF_TEST_FIXTURE_SCOPE_END()
