// The DHT codec (messages/dht_codec.hpp): every request and response kind round trips, and each
// limit and validation rule rejects its input with the right error code.
#define CAF_SUITE messages.dht_codec
#include <caf/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <caf/sec.hpp>
#include <capnp/message.h>

#include "messages/dht_codec.hpp"
#include "messages/schema/dht.capnp.h"
#include "tests/messages/test_util.hpp"

using namespace dmoe;
using namespace dmoe::dht;
using dmoe::test::outcome;

namespace {

id160 make_id(uint8_t seed) {
  id160 id;
  for (size_t i = 0; i < id.size(); ++i)
    id[i] = static_cast<uint8_t>(seed * 31 + i * 7);
  return id;
}

node_info make_node(uint8_t seed) {
  return node_info{make_id(seed), "10.0.0." + std::to_string(seed) + ":" + std::to_string(4000 + seed)};
}

std::vector<item> make_items() {
  return {item{"", "plain value", 1.7e9},
          item{"server-1", std::string("binary\0value\xff", 13), 1.7e9 + 0.25},
          item{std::string(16, '\x01'), "", 0.0}};
}

template <class T>
const T* body_of(const caf::expected<request>& x) {
  return x ? std::get_if<T>(&x->body) : nullptr;
}

template <class T>
const T* body_of(const caf::expected<response>& x) {
  return x ? std::get_if<T>(&x->body) : nullptr;
}

capnp::Data::Reader bytes_of(const std::string& s) {
  return {reinterpret_cast<const kj::byte*>(s.data()), s.size()};
}

// A hand-built request whose ids have arbitrary lengths (the native types cannot express that).
payload raw_request(size_t sender_id_len, const std::string& kind, size_t key_len) {
  capnp::MallocMessageBuilder message;
  auto out = message.initRoot<wire::DhtRequest>();
  auto sender = out.initSender();
  sender.setNodeId(bytes_of(std::string(sender_id_len, 'a')));
  sender.setEndpoint("127.0.0.1:4000");
  std::string key_bytes(key_len, 'k');
  auto key = bytes_of(key_bytes);
  if (kind == "store") {
    auto store = out.initStore();
    store.setKey(key);
    store.initItems(1)[0].setValue(bytes_of("v"));
  } else if (kind == "find_node") {
    out.setFindNode(key);
  } else if (kind == "find_value") {
    out.setFindValue(key);
  } else {
    out.setPing();
  }
  return to_payload(message);
}

}  // namespace

CAF_TEST(every request kind round trips) {
  auto sender = make_node(1);
  auto ping = decode_request(encode(request{sender, ping_request{}}));
  CAF_REQUIRE(body_of<ping_request>(ping) != nullptr);
  CAF_CHECK(ping->sender == sender);
  // A node's public key travels with its id; a key of the wrong size is refused.
  auto keyed = sender;
  keyed.public_key = std::string(node_public_key_bytes, '\x7f');
  auto with_key = decode_request(encode(request{keyed, ping_request{}}));
  CAF_REQUIRE(with_key);
  CAF_CHECK(with_key->sender == keyed);
  keyed.public_key = "short";
  auto bad_key = decode_request(encode(request{keyed, ping_request{}}));
  CAF_REQUIRE(!bad_key);
  CAF_CHECK_EQUAL(code_of(bad_key.error()), errc::invalid_argument);

  store_request store{make_id(2), make_items()};
  auto stored = decode_request(encode(request{sender, store}));
  auto* s = body_of<store_request>(stored);
  CAF_REQUIRE(s != nullptr);
  CAF_CHECK(s->key == store.key);
  CAF_CHECK(s->items == store.items);
  CAF_CHECK_EQUAL(s->items[1].value.size(), 13u);  // embedded NUL and 0xff survive
  CAF_CHECK(stored->sender == sender);

  auto find_node = decode_request(encode(request{sender, find_node_request{make_id(3)}}));
  CAF_REQUIRE(body_of<find_node_request>(find_node) != nullptr);
  CAF_CHECK(body_of<find_node_request>(find_node)->target == make_id(3));

  auto find_value = decode_request(encode(request{sender, find_value_request{make_id(4)}}));
  CAF_REQUIRE(body_of<find_value_request>(find_value) != nullptr);
  CAF_CHECK(body_of<find_value_request>(find_value)->key == make_id(4));

  // A store with no items is well-formed.
  auto empty = decode_request(encode(request{sender, store_request{make_id(5), {}}}));
  CAF_REQUIRE(body_of<store_request>(empty) != nullptr);
  CAF_CHECK(body_of<store_request>(empty)->items.empty());
}

CAF_TEST(every response kind round trips) {
  auto responder = make_node(9);
  auto pong_back = decode_response(encode(response{responder, pong{}}));
  CAF_REQUIRE(body_of<pong>(pong_back) != nullptr);
  CAF_CHECK(pong_back->responder == responder);

  auto stored = decode_response(encode(response{responder, store_result{{true, false, true}}}));
  CAF_REQUIRE(body_of<store_result>(stored) != nullptr);
  CAF_CHECK(body_of<store_result>(stored)->accepted == (std::vector<bool>{true, false, true}));

  std::vector<node_info> nodes{make_node(10), make_node(11), make_node(12)};
  auto found_nodes = decode_response(encode(response{responder, find_node_result{nodes}}));
  CAF_REQUIRE(body_of<find_node_result>(found_nodes) != nullptr);
  CAF_CHECK(body_of<find_node_result>(found_nodes)->nodes == nodes);

  find_value_result value{make_items(), {make_node(13)}};
  auto found_value = decode_response(encode(response{responder, value}));
  auto* v = body_of<find_value_result>(found_value);
  CAF_REQUIRE(v != nullptr);
  CAF_CHECK(v->items == value.items);
  CAF_CHECK(v->closer == value.closer);

  auto failed = decode_response(
    encode(response{responder, make_error(errc::not_found, "no such key")}));
  auto* err = body_of<caf::error>(failed);
  CAF_REQUIRE(err != nullptr);
  CAF_CHECK_EQUAL(code_of(*err), errc::not_found);
  CAF_CHECK_EQUAL(describe(*err), "not_found: no such key");
  CAF_CHECK(failed->responder == responder);

  // A CAF error is sent as the nearest dmoe code.
  auto timed_out = decode_response(
    encode(response{responder, caf::make_error(caf::sec::request_timeout)}));
  CAF_REQUIRE(body_of<caf::error>(timed_out) != nullptr);
  CAF_CHECK_EQUAL(code_of(*body_of<caf::error>(timed_out)), errc::timeout);
}

CAF_TEST(a nonce and a key proof travel and are bounded) {
  auto sender = make_node(1);
  auto asked = decode_request(encode(request{sender, ping_request{}, std::string(16, 'n')}));
  CAF_REQUIRE(asked);
  CAF_CHECK_EQUAL(asked->nonce, std::string(16, 'n'));
  auto long_nonce = decode_request(
    encode(request{sender, ping_request{}, std::string(max_nonce_bytes + 1, 'n')}));
  CAF_REQUIRE(!long_nonce);
  CAF_CHECK_EQUAL(code_of(long_nonce.error()), errc::invalid_argument);
  response answer{sender, pong{}, std::string(item_signature_bytes, 'p')};
  auto proven = decode_response(encode(answer));
  CAF_REQUIRE(proven);
  CAF_CHECK_EQUAL(proven->key_proof, answer.key_proof);
  answer.key_proof = "short";
  auto bad = decode_response(encode(answer));
  CAF_REQUIRE(!bad);
  CAF_CHECK_EQUAL(code_of(bad.error()), errc::invalid_argument);
}

CAF_TEST(ids of the wrong length are rejected) {
  CAF_CHECK_EQUAL(outcome(decode_request(raw_request(id_bytes, "ping", 0))), "ok");
  for (size_t len : {size_t{0}, id_bytes - 1, id_bytes + 1}) {
    CAF_CHECK_EQUAL(outcome(decode_request(raw_request(len, "ping", 0))), "invalid_argument");
    for (auto kind : {"store", "find_node", "find_value"}) {
      CAF_CHECK_EQUAL(outcome(decode_request(raw_request(id_bytes, kind, id_bytes))), "ok");
      CAF_CHECK_EQUAL(outcome(decode_request(raw_request(id_bytes, kind, len))),
                      "invalid_argument");
    }
  }
  // Node ids inside responses are checked as well.
  capnp::MallocMessageBuilder message;
  auto out = message.initRoot<wire::DhtResponse>();
  out.initResponder().setNodeId(bytes_of(std::string(id_bytes, 'r')));
  auto nodes = out.initFindNode(2);
  nodes[0].setNodeId(bytes_of(std::string(id_bytes, 'n')));
  nodes[1].setNodeId(bytes_of(std::string(id_bytes - 4, 'n')));
  CAF_CHECK_EQUAL(outcome(decode_response(to_payload(message))), "invalid_argument");
}

CAF_TEST(oversized values subkeys and endpoints are rejected) {
  auto sender = make_node(1);
  auto store_with = [&](item x) {
    return decode_request(encode(request{sender, store_request{make_id(2), {x}}}));
  };
  CAF_CHECK_EQUAL(outcome(store_with(item{"", std::string(default_max_value_bytes, 'v'), 1})), "ok");
  CAF_CHECK_EQUAL(outcome(store_with(item{"", std::string(default_max_value_bytes + 1, 'v'), 1})),
                  "limit_exceeded");
  CAF_CHECK_EQUAL(outcome(store_with(item{std::string(default_max_subkey_bytes, 's'), "v", 1})),
                  "ok");
  CAF_CHECK_EQUAL(outcome(store_with(item{std::string(default_max_subkey_bytes + 1, 's'), "v", 1})),
                  "limit_exceeded");
  // The same limits apply to items in a find_value result.
  auto big = find_value_result{{item{"", std::string(default_max_value_bytes + 1, 'v'), 1}}, {}};
  CAF_CHECK_EQUAL(outcome(decode_response(encode(response{sender, big}))), "limit_exceeded");

  node_info long_endpoint{make_id(3), std::string(default_max_endpoint_bytes + 1, 'h')};
  node_info max_endpoint{make_id(3), std::string(default_max_endpoint_bytes, 'h')};
  CAF_CHECK_EQUAL(outcome(decode_request(encode(request{max_endpoint, ping_request{}}))), "ok");
  CAF_CHECK_EQUAL(outcome(decode_request(encode(request{long_endpoint, ping_request{}}))),
                  "limit_exceeded");
  CAF_CHECK_EQUAL(outcome(decode_response(encode(response{long_endpoint, pong{}}))),
                  "limit_exceeded");
  CAF_CHECK_EQUAL(
    outcome(decode_response(encode(response{sender, find_node_result{{long_endpoint}}}))),
    "limit_exceeded");
  // A NUL would cut an endpoint short when it is sent on; control bytes would forge log lines.
  for (auto bad : {std::string("127.0.0.1:80\0junk", 17), std::string("h:1\nfake log line")}) {
    node_info odd{make_id(4), bad};
    CAF_CHECK_EQUAL(outcome(decode_request(encode(request{odd, ping_request{}}))), "invalid_argument");
    CAF_CHECK_EQUAL(outcome(decode_response(encode(response{sender, find_node_result{{odd}}}))),
                    "invalid_argument");
  }
  // Configured limits replace the defaults.
  codec_limits tight;
  tight.max_value_bytes = 4;
  CAF_CHECK_EQUAL(
    outcome(decode_request(encode(request{sender, store_request{make_id(2), {item{"", "12345", 1}}}}),
                           tight)),
    "limit_exceeded");
}

CAF_TEST(too many items or contacts are rejected) {
  auto sender = make_node(1);
  std::vector<item> at_limit(default_max_items_per_message, item{"", "v", 1});
  std::vector<item> over(default_max_items_per_message + 1, item{"", "v", 1});
  CAF_CHECK_EQUAL(outcome(decode_request(encode(request{sender, store_request{make_id(2), at_limit}}))),
                  "ok");
  CAF_CHECK_EQUAL(outcome(decode_request(encode(request{sender, store_request{make_id(2), over}}))),
                  "limit_exceeded");
  CAF_CHECK_EQUAL(outcome(decode_response(encode(response{sender, find_value_result{over, {}}}))),
                  "limit_exceeded");
  CAF_CHECK_EQUAL(outcome(decode_response(encode(response{
                    sender, store_result{std::vector<bool>(default_max_items_per_message + 1)}}))),
                  "limit_exceeded");

  std::vector<node_info> contacts(default_max_contacts_per_message, make_node(7));
  CAF_CHECK_EQUAL(outcome(decode_response(encode(response{sender, find_node_result{contacts}}))),
                  "ok");
  contacts.push_back(make_node(8));
  CAF_CHECK_EQUAL(outcome(decode_response(encode(response{sender, find_node_result{contacts}}))),
                  "limit_exceeded");
  CAF_CHECK_EQUAL(outcome(decode_response(encode(response{sender, find_value_result{{}, contacts}}))),
                  "limit_exceeded");
}

CAF_TEST(non-finite expirations are rejected) {
  auto sender = make_node(1);
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity()}) {
    std::vector<item> items{item{"", "ok", 1.0}, item{"x", "v", bad}};
    CAF_CHECK_EQUAL(outcome(decode_request(encode(request{sender, store_request{make_id(2), items}}))),
                    "invalid_argument");
    CAF_CHECK_EQUAL(outcome(decode_response(encode(response{sender, find_value_result{items, {}}}))),
                    "invalid_argument");
  }
  // Finite values, even far in the past or future, are the storage's business, not the codec's.
  std::vector<item> items{item{"", "v", -1e300}, item{"", "v", 1e300}};
  CAF_CHECK_EQUAL(outcome(decode_request(encode(request{sender, store_request{make_id(2), items}}))),
                  "ok");
}
