// DHT items owned by their writers (actors/dht/ownership.hpp) and how storage treats them: a
// signed item verifies and nothing altered does; only its owner can write or replace it; owned
// items live at most max_owned_ttl and take the place of plain ones in a full key.
#define CAF_SUITE ownership.records
#include <caf/test/unit_test.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/dht/client.hpp"
#include "actors/dht/node_id.hpp"
#include "actors/dht/ownership.hpp"
#include "actors/dht/storage.hpp"
#include "messages/errors.hpp"
#include "messages/type_ids.hpp"

using namespace dmoe;
using namespace dmoe::dht;

namespace {

constexpr double now = 1'000'000.0;

struct fixture {
  std::shared_ptr<const identity> owner = identity::generate();
  std::shared_ptr<const identity> stranger = identity::generate();
  id160 key = key_id("ffn.3.");
  storage_limits limits;
  fixture() {
    limits.max_subkeys = 4;
    limits.max_owned_ttl = 60;
  }
};

errc refusal(const caf::expected<bool>& result) {
  return result ? errc::internal : code_of(result.error());
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(ownership_tests, fixture)

CAF_TEST(a signed item verifies and no altered copy does) {
  auto x = owned_item(*owner, key, "17", "10.0.0.5:4100", now + 20);
  CAF_CHECK_EQUAL(x.subkey, "17#" + owner->owner_tag());
  CAF_CHECK_EQUAL(x.signature.size(), signature_bytes);
  CAF_CHECK(!check_owner(key, x));
  CAF_CHECK(is_verified_owned(key, x));
  auto redirected = x;
  redirected.value = "203.0.113.66:6666";
  auto prolonged = x;
  prolonged.expiration += 80000;
  auto moved = x;
  moved.subkey = "18#" + owner->owner_tag();
  for (const auto& forged : {redirected, prolonged, moved}) {
    CAF_CHECK_EQUAL(code_of(check_owner(key, forged)), errc::forbidden);
    CAF_CHECK(!is_verified_owned(key, forged));
  }
  CAF_CHECK(check_owner(key_id("ffn.4."), x));  // the same item under another key
  auto unsigned_copy = x;
  unsigned_copy.signature.clear();
  CAF_CHECK_EQUAL(code_of(check_owner(key, unsigned_copy)), errc::forbidden);
  // The stranger's signature under the owner's sub-key: the owner's key does not verify it.
  auto impostor = owned_item(*stranger, key, "17", "203.0.113.66:6666", now + 20);
  impostor.subkey = x.subkey;
  CAF_CHECK_EQUAL(code_of(check_owner(key, impostor)), errc::forbidden);
}

CAF_TEST(an answer proves its key only for the nonce node id and endpoint it was signed for) {
  auto key = identity::generate();
  node_info me{node_id_of(key->public_key()), "10.0.0.1:4100", key->public_key()};
  response answer{me, pong{}};
  answer.key_proof = prove_key(*key, "nonce-1", me);
  CAF_CHECK(proves_key(answer, "nonce-1"));
  CAF_CHECK(!proves_key(answer, "nonce-2"));  // replayed for another request
  auto moved = answer;
  moved.responder.endpoint = "10.0.0.2:4100";  // copied to another endpoint
  CAF_CHECK(!proves_key(moved, "nonce-1"));
  auto copied = answer;  // another key's signature under this id and key
  copied.key_proof = prove_key(*identity::generate(), "nonce-1", me);
  CAF_CHECK(!proves_key(copied, "nonce-1"));
  auto unsigned_answer = answer;
  unsigned_answer.key_proof.clear();
  CAF_CHECK(!proves_key(unsigned_answer, "nonce-1"));
  // The proof crosses the wire.
  auto decoded = decode_response(encode(answer));
  CAF_REQUIRE(decoded);
  CAF_CHECK(proves_key(*decoded, "nonce-1"));
}

CAF_TEST(plain items stay unsigned and are never taken for owned ones) {
  item plain{"17", "10.0.0.5:4100", now + 20};
  CAF_CHECK(!check_owner(key, plain));
  CAF_CHECK(!is_verified_owned(key, plain));
  plain.signature = std::string(signature_bytes, 'x');
  CAF_CHECK(check_owner(key, plain));
  for (auto bad : {std::string{"17#"}, "17#" + std::string(63, 'a'),
                   "17#" + std::string(64, 'A'), "17#" + std::string(64, 'g')})
    CAF_CHECK(!parse_subkey(bad));
  auto subkey = "17#" + owner->owner_tag();
  auto parts = parse_subkey(subkey);
  CAF_REQUIRE(parts);
  CAF_CHECK_EQUAL(parts->label, "17");
  CAF_CHECK(parts->owner == owner->public_key());
}

CAF_TEST(only the owner writes and replaces its item) {
  storage store{limits};
  auto first = owned_item(*owner, key, "17", "10.0.0.5:4100", now + 20);
  CAF_CHECK_EQUAL(store.put(key, first, now), true);
  auto renewed = owned_item(*owner, key, "17", "10.0.0.5:4100", now + 30);
  CAF_CHECK_EQUAL(store.put(key, renewed, now), true);
  // A stranger can neither overwrite the owner's item nor pass its own off under that sub-key.
  auto hijack = owned_item(*stranger, key, "17", "203.0.113.66:6666", now + 50);
  hijack.subkey = first.subkey;
  CAF_CHECK_EQUAL(refusal(store.put(key, hijack, now)), errc::forbidden);
  item plain_hijack{first.subkey, "203.0.113.66:6666", now + 50};
  CAF_CHECK_EQUAL(refusal(store.put(key, plain_hijack, now)), errc::forbidden);
  // Its own item lands under its own sub-key, beside the owner's.
  auto own = owned_item(*stranger, key, "17", "203.0.113.66:6666", now + 50);
  CAF_CHECK_EQUAL(store.put(key, own, now), true);
  auto items = store.get(key, now);
  CAF_REQUIRE_EQUAL(items.size(), 2u);
  for (const auto& x : items)
    if (x.subkey == first.subkey)
      CAF_CHECK_EQUAL(x, renewed);
}

CAF_TEST(an owned item lives at most max_owned_ttl) {
  storage store{limits};
  CAF_CHECK_EQUAL(store.put(key, owned_item(*owner, key, "1", "a:1", now + 60), now), true);
  auto long_lived = owned_item(*owner, key, "2", "a:1", now + 61);
  auto refused = store.put(key, long_lived, now);
  CAF_REQUIRE(!refused);
  CAF_MESSAGE(describe(refused.error()));
  CAF_CHECK_NOT_EQUAL(describe(refused.error()).find("dht.max-owned-ttl"), std::string::npos);
  // Plain items keep the general limit.
  CAF_CHECK_EQUAL(store.put(key, item{"3", "a:1", now + 3000}, now), true);
}

CAF_TEST(in a full key owned items take the place of plain ones and not the reverse) {
  storage store{limits};
  for (int i = 0; i < 4; ++i)
    CAF_CHECK_EQUAL(store.put(key, item{"junk" + std::to_string(i), "x", now + 100 + i}, now), true);
  CAF_CHECK_EQUAL(refusal(store.put(key, item{"junk9", "x", now + 500}, now)),
                  errc::limit_exceeded);
  CAF_CHECK_EQUAL(store.put(key, owned_item(*owner, key, "17", "10.0.0.5:4100", now + 20), now),
                  true);
  auto items = store.get(key, now);
  CAF_CHECK_EQUAL(items.size(), 4u);
  for (const auto& x : items)
    CAF_CHECK_NOT_EQUAL(x.subkey, "junk0");  // the plain item expiring first made room
  CAF_CHECK_EQUAL(store.size(), 4u);
  for (int i = 0; i < 3; ++i)
    CAF_CHECK_EQUAL(store.put(key, owned_item(*owner, key, std::to_string(i), "a:1", now + 20), now),
                    true);
  CAF_CHECK_EQUAL(refusal(store.put(key, owned_item(*owner, key, "9", "a:1", now + 20), now)),
                  errc::limit_exceeded);  // nothing plain left to make room
}

CAF_TEST(a sub key longer than the limit is refused by storage itself) {
  limits.max_subkey_bytes = 8;
  storage store{limits};
  CAF_CHECK_EQUAL(refusal(store.put(key, item{"123456789", "x", now + 10}, now)),
                  errc::limit_exceeded);
}

CAF_TEST_FIXTURE_SCOPE_END()

// ---- a lying peer ----

namespace {

/// A DHT peer that answers every lookup of a value with `lies` (and takes every store). It holds
/// the key of its id: its answers prove it.
caf::behavior lying_peer(caf::event_based_actor*, std::shared_ptr<const identity> key,
                         node_info me, std::vector<item> lies) {
  return {[key, me, lies](dht_rpc_atom, payload& in) -> payload {
    auto req = decode_request(in);
    if (!req)
      return encode(response{me, req.error()});
    auto proven = [&](response resp) {
      resp.key_proof = prove_key(*key, req->nonce, me);
      return encode(resp);
    };
    if (std::holds_alternative<find_value_request>(req->body))
      return proven(response{me, find_value_result{lies, {}}});
    if (auto* store = std::get_if<store_request>(&req->body))
      return proven(response{me, store_result{std::vector<bool>(store->items.size(), true)}});
    if (std::holds_alternative<find_node_request>(req->body))
      return proven(response{me, find_node_result{}});
    return proven(response{me, pong{}});
  }};
}

caf::actor_system_config& lookup_config() {
  static caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  return cfg;
}

int64_t forged_items(caf::actor_system& system, const dht::node_actor& node) {
  caf::scoped_actor self{system};
  int64_t out = -1;
  self->request(node, std::chrono::seconds(10), stats_atom::value)
    .receive([&](dht::node_stats& s) { out = s.forged_items; }, [](caf::error&) {});
  return out;
}

}  // namespace

#undef CAF_SUITE
#define CAF_SUITE ownership.lookup

CAF_TEST(a lookup drops the forged copy of an owned item a lying peer returns) {
  caf::actor_system system{lookup_config()};
  auto directory = std::make_shared<local_directory>();
  auto key = std::string{"ffn.0.1"};
  auto now = wall_clock();
  // The honest node declares; the liar answers lookups with the same sub-key, a later
  // expiration and its own endpoint, under a signature that is not the owner's.
  node_setup setup;
  setup.name = "honest";
  setup.options.bootstrap = {"inproc:liar"};
  setup.directory = directory;
  auto signer = identity::generate();
  setup.signer = signer;
  auto honest_item = owned_item(*signer, key_id(key), "127.0.0.1:4110", "127.0.0.1:4110", now + 60);
  auto forged = honest_item;
  forged.value = "203.0.113.66:6666";
  forged.expiration = now + 100;
  auto liar_identity = identity::generate();  // a real node's id and key, so it is learned
  auto liar_key = liar_identity->public_key();
  auto liar = system.spawn(lying_peer, liar_identity,
                           node_info{node_id_of(liar_key), "inproc:liar", liar_key},
                           std::vector<item>{forged});
  directory->put("inproc:liar", liar);
  auto honest = spawn_node(system, std::move(setup));
  caf::scoped_actor self{system};
  self->request(honest, std::chrono::seconds(10), dht_start_atom::value, std::string{"inproc:honest"})
    .receive([](uint32_t) {}, [](caf::error&) {});
  CAF_REQUIRE(declare(system, honest, key, "127.0.0.1:4110", "127.0.0.1:4110", now + 60));
  auto got = get(system, honest, key);
  CAF_REQUIRE(got);
  CAF_REQUIRE_EQUAL(got->items.size(), 1u);
  CAF_CHECK_EQUAL(got->items[0].value, "127.0.0.1:4110");
  CAF_CHECK(is_verified_owned(key_id(key), got->items[0]));
  CAF_CHECK_GREATER_OR_EQUAL(forged_items(system, honest), 1);
  // A declaration is signed by this process's own actors only: stores with an owned sub-key
  // and no signature are refused even from here.
  auto plain = store(system, honest, key, honest_item.subkey, "203.0.113.66:6666", now + 200);
  CAF_REQUIRE(!plain);
  CAF_CHECK_EQUAL(code_of(plain.error()), errc::forbidden);
  caf::anon_send_exit(honest, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(liar, caf::exit_reason::user_shutdown);
}
