// Row 5 of the second round against hostile peers: replies to calls made to other nodes. A real
// dmoe-node DHT node checks a new sender's claim by pinging the endpoint it claims; there the
// test process answers, as an honest node would, but 1.5 s late. Meanwhile a peer that learned
// the ping's request id (here from the honest side, as one that sees a node's traffic could)
// sends the node a forged reply on a connection of its own, naming another node id. Before the
// guard matched replies to the requests sent on a peer's connections, the node took the forged
// reply (the claim was refused, claims_refused 0 -> 1, and the honest answer was dropped); now
// the forged reply is dropped and the honest answer makes the claimant a contact.
#define CAF_SUITE hostile.replies
#include <caf/test/unit_test.hpp>

#include <filesystem>
#include <future>
#include <regex>

#include <caf/binary_serializer.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/dht/node.hpp"
#include "actors/dht/node_id.hpp"
#include "actors/dht/ownership.hpp"
#include "messages/dht_codec.hpp"
#include "runtime/node_config.hpp"
#include "tests/hostile/dht_victim.hpp"
#include "tests/process_util.hpp"
#include "tests/raw_basp_peer.hpp"

using namespace dmoe;
using namespace dmoe::test;
using namespace std::chrono_literals;

namespace {

using sleep_atom = caf::atom_constant<caf::atom("sleep")>;

constexpr auto honest_delay = 1500ms;  // under dht.request-timeout (2 s)

/// What the honest side saw of the node's ping: its request id and the asking actor.
struct seen_request {
  caf::message_id id;
  caf::strong_actor_ptr asker;
};

struct claimant {
  std::shared_ptr<const dht::identity> key = dht::identity::generate();
  dht::node_info info(const std::string& endpoint) const {
    return dht::node_info{dht::node_id_of(key->public_key()), endpoint, key->public_key()};
  }
};

caf::behavior sleeper(caf::event_based_actor*) {
  return {[](sleep_atom) {
    std::this_thread::sleep_for(honest_delay);
    return true;
  }};
}

/// The claimant's DHT endpoint: answers a ping with its own id, late, and tells the test what
/// the request looked like.
dht::rpc_actor::behavior_type late_honest_node(dht::rpc_actor::pointer self,
                                               std::shared_ptr<const dht::identity> key,
                                               dht::node_info me,
                                               std::shared_ptr<std::promise<seen_request>> seen) {
  auto told = std::make_shared<bool>(false);
  return {[=](dht_rpc_atom, payload& in) -> caf::result<payload> {
    auto req = dht::decode_request(in);
    if (!req)
      return req.error();
    if (!std::exchange(*told, true))
      seen->set_value(seen_request{self->current_message_id(), self->current_sender()});
    auto rp = self->make_response_promise<payload>();
    auto pause = self->spawn<caf::detached>(sleeper);
    self->request(pause, 10s, sleep_atom::value).then([=](bool) mutable {
      dht::response pong{me, dht::pong{}};
      pong.key_proof = dht::prove_key(*key, req->nonce, me);
      rp.deliver(dht::encode(pong));
    });
    return rp;
  }};
}

struct fixture : dht_victim {
  fixture() : dht_victim("hostile-replies") {
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(hostile_replies, fixture)

CAF_TEST(a reply from a node the request did not go to is dropped) {
  claimant honest;
  auto seen = std::make_shared<std::promise<seen_request>>();
  auto seen_future = seen->get_future();
  auto honest_port = free_port();
  auto endpoint = "127.0.0.1:" + std::to_string(honest_port);
  auto honest_node = system->spawn(late_honest_node, honest.key, honest.info(endpoint), seen);
  CAF_REQUIRE(system->middleman().publish(honest_node, honest_port, "127.0.0.1", true));
  // The claim: the node pings the claimed endpoint back.
  caf::scoped_actor self{*system};
  self->request(gateway, 10s, dht_rpc_atom::value,
                dht::encode(dht::request{honest.info(endpoint), dht::ping_request{}}))
    .receive([](payload&) {}, [](caf::error& err) { CAF_FAIL("ping: " << to_string(err)); });
  CAF_REQUIRE(seen_future.wait_for(10s) == std::future_status::ready);
  auto request = seen_future.get();
  CAF_REQUIRE(request.asker);
  // The forged reply, from a connection of its own: an answer naming another node id.
  claimant other;
  auto forged = dht::encode(dht::response{other.info(endpoint), dht::pong{}});
  std::vector<char> body;
  caf::binary_serializer sink{*system, body};
  CAF_REQUIRE(!sink(std::vector<caf::strong_actor_ptr>{}, caf::make_message(std::move(forged))));
  raw_peer attacker{port};
  attacker.read_handshake();
  attacker.send_frame(basp::header{basp::message_type::client_handshake, 0, 0, 0, 0, 0},
                      serialized(stranger_id()));
  attacker.send_frame(basp::header{basp::message_type::direct_message, 0, 0,
                                   request.id.response_id().integer_value(), 0,
                                   request.asker->id()},
                      body);
  // The honest answer comes 1.5 s after the ping.
  CAF_CHECK(poll_until([&] { return contacts() >= 1; }, 10s, 100ms));
  CAF_CHECK_EQUAL(stat("claims_refused"), 0);
  auto text = read_file(node.log_path);
  CAF_CHECK(text.find("answering no request this node sent there") != std::string::npos);
  caf::anon_send_exit(honest_node, caf::exit_reason::user_shutdown);
}

CAF_TEST_FIXTURE_SCOPE_END()
