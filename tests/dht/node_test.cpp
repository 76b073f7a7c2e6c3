#define CAF_SUITE dht.node
#include <caf/test/dsl.hpp>

#include <map>

#include <capnp/message.h>

#include "actors/dht/node.hpp"
#include "messages/schema/dht.capnp.h"
#include "messages/type_ids.hpp"

using namespace caf;
using namespace dmoe;
using namespace dmoe::dht;

namespace {

constexpr double start_time = 1'000'000.0;

// Replies are already in the mailbox after sched.run(); waiting longer means there is none.
#define NO_REPLY caf::after(std::chrono::seconds(5)) >> [] { CAF_FAIL("no reply"); }

struct fixture : test_coordinator_fixture<> {
  std::shared_ptr<local_directory> directory = std::make_shared<local_directory>();
  double fake_now = start_time;
  // A client outside the network (no endpoint): nodes answer it but never call it back.
  node_info client{key_id("client"), ""};

  node_actor make_node(const std::string& name, std::vector<std::string> bootstrap = {}) {
    node_setup setup;
    setup.name = name;
    setup.options.k = 4;
    setup.options.max_value_bytes = 64;
    setup.options.max_ttl = std::chrono::hours(1);
    setup.options.bootstrap = std::move(bootstrap);
    setup.directory = directory;
    setup.clock = [this] { return fake_now; };
    auto signer = identity::generate();
    ids[name] = node_id_of(signer->public_key());
    setup.signer = std::move(signer);
    setup.seed = 1;
    auto node = spawn_node(sys, std::move(setup));
    sched.run();
    nodes.push_back(node);
    return node;
  }

  // Started nodes have timers pending; stop them so the actor system can shut down.
  ~fixture() {
    for (auto& node : nodes)
      anon_send_exit(node, exit_reason::user_shutdown);
    sched.run();
  }

  std::vector<node_actor> nodes;
  std::map<std::string, id160> ids;  // by name: derived from each node's key

  /// A claim with a valid id of its own (a node that exists nowhere) at `endpoint`.
  static node_info made_up(const std::string& endpoint) {
    auto key = identity::generate()->public_key();
    return node_info{node_id_of(key), endpoint, key};
  }

  void start(const node_actor& node, const std::string& endpoint) {
    self->send(node, dht_start_atom::value, endpoint);
    sched.run();
    self->receive([](uint32_t) {}, NO_REPLY);
  }

  // One RPC through the deterministic scheduler.
  response rpc(const node_actor& node, payload msg) {
    self->send(node, dht_rpc_atom::value, std::move(msg));
    expect((dht_rpc_atom, payload), from(self).to(node));
    sched.run();
    response out;
    self->receive([&](payload& reply) {
      auto decoded = decode_response(reply);
      CAF_REQUIRE(decoded);
      out = std::move(*decoded);
    }, NO_REPLY);
    return out;
  }

  response rpc(const node_actor& node, decltype(dht::request::body) body) {
    return rpc(node, encode(dht::request{client, std::move(body)}));
  }

  std::string info(const node_actor& node) {
    self->send(node, dht_info_atom::value);
    sched.run();
    std::string out;
    self->receive([&](std::string& text) { out = std::move(text); }, NO_REPLY);
    return out;
  }

  static errc error_code(const response& r) {
    auto err = std::get_if<caf::error>(&r.body);
    return err ? code_of(*err) : errc::internal;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(node_tests, fixture)

CAF_TEST(ping answers with the node id and learns a sender only once its endpoint confirms it) {
  auto a = make_node("a");
  auto r = rpc(a, ping_request{});
  CAF_CHECK(std::holds_alternative<pong>(r.body));
  CAF_CHECK(r.responder.id == ids["a"]);
  CAF_CHECK(holds_its_id(r.responder));
  CAF_CHECK_NOT_EQUAL(info(a).find("0 contacts"), std::string::npos);
  // Claims nobody confirms: an endpoint where no node lives, a real node's endpoint under an
  // id that is not its own (a stranger pointing a's table at a victim's address), and a real
  // node's id and endpoint without its key (an id of one's choosing).
  auto peer = make_node("peer");
  start(peer, "inproc:peer");
  rpc(a, encode(dht::request{made_up("inproc:nobody"), ping_request{}}));
  rpc(a, encode(dht::request{made_up("inproc:peer"), ping_request{}}));
  rpc(a, encode(dht::request{node_info{ids["peer"], "inproc:peer"}, ping_request{}}));
  CAF_CHECK_NOT_EQUAL(info(a).find("0 contacts"), std::string::npos);
  // The real claim: a pings inproc:peer back, which answers with peer's own id and key.
  auto real = rpc(peer, ping_request{}).responder;
  CAF_REQUIRE(real.id == ids["peer"]);
  real.endpoint = "inproc:peer";
  rpc(a, encode(dht::request{real, ping_request{}}));
  CAF_CHECK_NOT_EQUAL(info(a).find("1 contacts"), std::string::npos);
  // Once known, the id claimed at another endpoint changes nothing.
  real.endpoint = "inproc:nobody";
  rpc(a, encode(dht::request{real, ping_request{}}));
  CAF_CHECK_NOT_EQUAL(info(a).find("1 contacts"), std::string::npos);
}

CAF_TEST(store then find_value returns the newest item per sub key) {
  auto a = make_node("a");
  auto key = key_id("ffn.");
  auto stored = rpc(a, store_request{key, {item{"s1", "v1", start_time + 10},
                                           item{"s2", "v2", start_time + 10}}});
  auto result = std::get_if<store_result>(&stored.body);
  CAF_REQUIRE(result != nullptr);
  CAF_CHECK_EQUAL(result->accepted, std::vector<bool>({true, true}));
  auto older = rpc(a, store_request{key, {item{"s1", "old", start_time + 5}}});
  CAF_CHECK_EQUAL(std::get<store_result>(older.body).accepted, std::vector<bool>({false}));
  auto found = rpc(a, find_value_request{key});
  auto values = std::get_if<find_value_result>(&found.body);
  CAF_REQUIRE(values != nullptr);
  CAF_REQUIRE_EQUAL(values->items.size(), 2u);
  CAF_CHECK_EQUAL(values->items[0].value, "v1");
  fake_now = start_time + 11;  // both expired
  auto later = rpc(a, find_value_request{key});
  CAF_CHECK(std::get<find_value_result>(later.body).items.empty());
}

CAF_TEST(find_node returns the closest contacts but never the requester) {
  auto a = make_node("a");
  start(a, "inproc:a");
  for (int i = 0; i < 6; ++i) {
    auto name = "peer" + std::to_string(i);
    start(make_node(name, {"inproc:a"}), "inproc:" + name);
  }
  CAF_CHECK_EQUAL(info(a).find("0 contacts"), std::string::npos);
  auto target = key_id("somewhere");
  auto r = rpc(a, find_node_request{target});
  auto nodes = std::get_if<find_node_result>(&r.body);
  CAF_REQUIRE(nodes != nullptr);
  CAF_CHECK_EQUAL(nodes->nodes.size(), 4u);  // k
  for (size_t i = 1; i < nodes->nodes.size(); ++i)
    CAF_CHECK(closer(target, nodes->nodes[i - 1].id, nodes->nodes[i].id));
  // Asked by peer0 about its own id, the node leaves peer0 out although it is the closest.
  auto own = rpc(a, encode(dht::request{node_info{ids["peer0"], ""},
                                         find_node_request{ids["peer0"]}}));
  auto others = std::get<find_node_result>(own.body).nodes;
  CAF_CHECK(!others.empty());
  for (const auto& n : others)
    CAF_CHECK(n.id != ids["peer0"]);
}

CAF_TEST(bad requests get error replies and the node keeps serving) {
  auto a = make_node("a");
  auto key = key_id("k");
  // Not Cap'n Proto at all.
  payload junk{std::vector<char>(64, '\x7f')};
  CAF_CHECK_EQUAL(error_code(rpc(a, junk)), errc::malformed);
  // A key of the wrong length, built by hand.
  {
    capnp::MallocMessageBuilder message;
    auto req = message.initRoot<wire::DhtRequest>();
    auto sender = req.initSender();
    sender.setNodeId(capnp::Data::Reader(client.id.data(), client.id.size()));
    uint8_t short_key[19] = {};
    req.initStore().setKey(capnp::Data::Reader(short_key, sizeof(short_key)));
    CAF_CHECK_EQUAL(error_code(rpc(a, to_payload(message))), errc::invalid_argument);
  }
  CAF_CHECK_EQUAL(error_code(rpc(a, store_request{key, {item{"", std::string(65, 'x'),
                                                             start_time + 10}}})),
                  errc::limit_exceeded);
  CAF_CHECK_EQUAL(error_code(rpc(a, store_request{key, {item{"", "v", start_time - 1}}})),
                  errc::expired);
  CAF_CHECK_EQUAL(error_code(rpc(a, store_request{key, {item{"", "v", start_time + 1e6}}})),
                  errc::invalid_argument);
  CAF_CHECK_NOT_EQUAL(info(a).find("(5 bad)"), std::string::npos);
  CAF_CHECK(std::holds_alternative<pong>(rpc(a, ping_request{}).body));
  CAF_CHECK(std::get<find_value_result>(rpc(a, find_value_request{key}).body).items.empty());
}

CAF_TEST(two nodes join store get and notice a death through a monitor) {
  auto a = make_node("a");
  start(a, "inproc:a");
  auto b = make_node("b", {"inproc:a"});
  start(b, "inproc:b");
  CAF_CHECK_NOT_EQUAL(info(a).find("1 contacts"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(info(b).find("1 contacts"), std::string::npos);
  self->send(b, dht_store_atom::value, std::string{"ffn.3."}, std::string{"server-1"},
             std::string{"127.0.0.1:5000"}, start_time + 60);
  sched.run();
  self->receive([](uint32_t replicas, uint32_t, uint32_t) { CAF_CHECK_EQUAL(replicas, 2u); },
                [](caf::error& err) { CAF_FAIL("store failed: " << describe(err)); });
  self->send(a, dht_get_atom::value, std::string{"ffn.3."});
  sched.run();
  self->receive(
    [](payload& p, uint32_t, uint32_t) {
      auto r = decode_response(p);
      CAF_REQUIRE(r);
      auto& items = std::get<find_value_result>(r->body).items;
      CAF_REQUIRE_EQUAL(items.size(), 1u);
      CAF_CHECK_EQUAL(items[0].subkey, "server-1");
      CAF_CHECK_EQUAL(items[0].value, "127.0.0.1:5000");
    },
    [](caf::error& err) { CAF_FAIL("get failed: " << describe(err)); });
  anon_send_exit(a, exit_reason::kill);
  sched.run();
  CAF_CHECK_NOT_EQUAL(info(b).find("0 contacts"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(info(b).find("1 peers seen down"), std::string::npos);
}

CAF_TEST(a store with an invalid item is refused before any lookup) {
  auto a = make_node("a");
  start(a, "inproc:a");
  self->send(a, dht_store_atom::value, std::string{"k"}, std::string{}, std::string{"v"},
             start_time - 5);
  sched.run();
  self->receive([](uint32_t, uint32_t, uint32_t) { CAF_FAIL("an expired item was stored"); },
                [](caf::error& err) { CAF_CHECK_EQUAL(code_of(err), errc::expired); });
}

CAF_TEST_FIXTURE_SCOPE_END()
