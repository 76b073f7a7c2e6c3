#define CAF_SUITE dht.storage
#include <caf/test/unit_test.hpp>

#include <algorithm>

#include <cmath>

#include "actors/dht/storage.hpp"
#include "messages/errors.hpp"

using namespace dmoe;
using namespace dmoe::dht;

namespace {

constexpr double now = 1'000'000.0;

struct fixture {
  storage_limits limits{10, 3, 16, 3600.0};
  storage store{limits};
  id160 key = key_id("ffn.");
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(storage_tests, fixture)

CAF_TEST(the newest item wins) {
  CAF_CHECK_EQUAL(store.put(key, item{"", "v1", now + 100}, now), true);
  CAF_CHECK_EQUAL(store.put(key, item{"", "v2", now + 200}, now), true);
  CAF_CHECK_EQUAL(store.put(key, item{"", "old", now + 50}, now), false);
  CAF_CHECK_EQUAL(store.put(key, item{"", "same", now + 200}, now), false);
  auto got = store.get(key, now);
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  CAF_CHECK_EQUAL(got[0].value, "v2");
  CAF_CHECK_EQUAL(store.size(), 1u);
}

CAF_TEST(sub keys expire one by one) {
  CAF_CHECK_EQUAL(store.put(key, item{"a", "1", now + 10}, now), true);
  CAF_CHECK_EQUAL(store.put(key, item{"b", "2", now + 20}, now), true);
  CAF_CHECK_EQUAL(store.get(key, now).size(), 2u);
  auto later = store.get(key, now + 15);
  CAF_REQUIRE_EQUAL(later.size(), 1u);
  CAF_CHECK_EQUAL(later[0].subkey, "b");
  CAF_CHECK_EQUAL(store.get(key, now + 25).size(), 0u);
  CAF_CHECK_EQUAL(store.expire(now + 15), 1u);
  CAF_CHECK_EQUAL(store.size(), 1u);
  CAF_CHECK_EQUAL(store.expire(now + 25), 1u);
  CAF_CHECK_EQUAL(store.key_count(), 0u);
}

CAF_TEST(expirations in the past or too far ahead are refused) {
  CAF_CHECK_EQUAL(code_of(store.put(key, item{"", "v", now - 1}, now).error()), errc::expired);
  CAF_CHECK_EQUAL(code_of(store.put(key, item{"", "v", now}, now).error()), errc::expired);
  CAF_CHECK_EQUAL(code_of(store.put(key, item{"", "v", now + 4000}, now).error()),
                  errc::invalid_argument);
  CAF_CHECK_EQUAL(code_of(store.put(key, item{"", "v", NAN}, now).error()),
                  errc::invalid_argument);
  CAF_CHECK_EQUAL(store.size(), 0u);
}

CAF_TEST(limits are enforced with clear errors) {
  auto big = store.put(key, item{"", std::string(17, 'x'), now + 1}, now);
  CAF_CHECK_EQUAL(code_of(big.error()), errc::limit_exceeded);
  for (auto sub : {"a", "b", "c"})
    CAF_CHECK_EQUAL(store.put(key, item{sub, "v", now + 1}, now), true);
  auto fourth = store.put(key, item{"d", "v", now + 1}, now);
  CAF_CHECK_EQUAL(code_of(fourth.error()), errc::limit_exceeded);
  CAF_MESSAGE(describe(fourth.error()));
  // Updating an existing sub-key is still fine at the limit.
  CAF_CHECK_EQUAL(store.put(key, item{"a", "v2", now + 2}, now), true);
  for (int i = 0; i < 7; ++i)
    CAF_CHECK_EQUAL(store.put(key_id("k" + std::to_string(i)), item{"", "v", now + 1}, now), true);
  auto full = store.put(key_id("one-more"), item{"", "v", now + 1}, now);
  CAF_CHECK_EQUAL(code_of(full.error()), errc::limit_exceeded);
  CAF_CHECK_EQUAL(store.size(), 10u);
  CAF_CHECK_EQUAL(store.key_count(), 8u);
}

CAF_TEST(bytes under one key and over all keys are bounded) {
  storage_limits bytes_limits;
  bytes_limits.max_value_bytes = 1000;
  bytes_limits.max_key_bytes = 3 * (1000 + 1 + 48) + 60;  // three items of 1,000 bytes
  bytes_limits.max_stored_bytes = 5 * (1000 + 1 + 48);
  storage small{bytes_limits};
  std::string value(1000, 'v');
  for (auto sub : {"a", "b", "c"})
    CAF_CHECK_EQUAL(small.put(key, item{sub, value, now + 10}, now), true);
  auto over_key = small.put(key, item{"d", value, now + 10}, now);
  CAF_REQUIRE(!over_key);
  CAF_CHECK_EQUAL(code_of(over_key.error()), errc::limit_exceeded);
  CAF_CHECK(message_of(over_key.error()).find("dht.max-key-bytes") != std::string::npos);
  CAF_CHECK_EQUAL(small.put(key, item{"a", "short", now + 20}, now), true);  // shrinking is fine
  CAF_CHECK_EQUAL(small.put(key, item{"d", value, now + 10}, now), true);    // and makes room
  CAF_CHECK_EQUAL(small.put(key_id("other"), item{"x", value, now + 10}, now), true);
  auto over_all = small.put(key_id("third"), item{"y", value, now + 10}, now);
  CAF_REQUIRE(!over_all);
  CAF_CHECK(message_of(over_all.error()).find("dht.max-stored-mb") != std::string::npos);
  // Expired items give their bytes back.
  CAF_CHECK_EQUAL(small.expire(now + 15), 4u);
  CAF_CHECK_EQUAL(small.bytes(), item_bytes(item{"a", "short", now + 20}));
  CAF_CHECK_EQUAL(small.put(key_id("third"), item{"y", value, now + 30}, now), true);
}

CAF_TEST(each peer stores at most its share) {
  storage_limits shares;
  shares.max_value_bytes = 1000;
  shares.max_peer_bytes = 3 * (1000 + 1 + 48);  // three items of 1,000 bytes per peer
  storage small{shares};
  std::string value(1000, 'v');
  for (auto sub : {"a", "b", "c"})
    CAF_CHECK_EQUAL(small.put(key, item{sub, value, now + 10}, now, "address 192.0.2.1"), true);
  auto over = small.put(key, item{"d", value, now + 10}, now, "address 192.0.2.1");
  CAF_REQUIRE(!over);
  CAF_CHECK_EQUAL(code_of(over.error()), errc::limit_exceeded);
  CAF_CHECK(message_of(over.error()).find("dht.max-peer-stored-mb") != std::string::npos);
  CAF_CHECK_EQUAL(small.peer_bytes("address 192.0.2.1"), 3 * item_bytes(item{"a", value, 0}));
  // Renewing its own item does not grow its share; other peers and this process have theirs.
  CAF_CHECK_EQUAL(small.put(key, item{"a", value, now + 20}, now, "address 192.0.2.1"), true);
  CAF_CHECK_EQUAL(small.put(key, item{"d", value, now + 10}, now, "address 192.0.2.2"), true);
  CAF_CHECK_EQUAL(small.put(key, item{"e", value, now + 10}, now), true);
  CAF_CHECK_EQUAL(small.peer_bytes(""), 0u);
  // An item another peer renews counts against that peer from then on.
  CAF_CHECK_EQUAL(small.put(key, item{"b", value, now + 20}, now, "address 192.0.2.2"), true);
  CAF_CHECK_EQUAL(small.peer_bytes("address 192.0.2.1"), 2 * item_bytes(item{"a", value, 0}));
  CAF_CHECK_EQUAL(small.put(key, item{"f", value, now + 10}, now, "address 192.0.2.1"), true);
  // Expired items give their share back.
  small.expire(now + 15);
  CAF_CHECK_EQUAL(small.peer_bytes("address 192.0.2.1"), item_bytes(item{"a", value, 0}));
  CAF_CHECK_EQUAL(small.peer_bytes("address 192.0.2.2"), item_bytes(item{"b", value, 0}));
}

CAF_TEST(a full key makes room for a peer holding less than the biggest holder) {
  storage_limits four;
  four.max_subkeys = 4;
  storage small{four};
  for (auto sub : {"a", "b", "c", "d"})
    CAF_CHECK_EQUAL(small.put(key, item{sub, "v", now + 10 + sub[0]}, now, "address 192.0.2.1"),
                    true);
  // A newcomer takes the place of the biggest holder's item that expires first ("a").
  CAF_CHECK_EQUAL(small.put(key, item{"e", "v", now + 10}, now, "address 192.0.2.2"), true);
  CAF_CHECK_EQUAL(small.fair_evictions(), 1u);
  auto left = small.get(key, now);
  CAF_CHECK_EQUAL(left.size(), 4u);
  CAF_CHECK(std::none_of(left.begin(), left.end(), [](const item& x) { return x.subkey == "a"; }));
  // 3 against 1: one more for the newcomer (2 against 2); then they are even and it waits.
  CAF_CHECK_EQUAL(small.put(key, item{"f", "v", now + 10}, now, "address 192.0.2.2"), true);
  auto even = small.put(key, item{"g", "v", now + 10}, now, "address 192.0.2.2");
  CAF_CHECK(!even);
  // Even, a new sub-key of the first peer is refused too: it cannot push the newcomer out.
  auto back = small.put(key, item{"a", "v", now + 10}, now, "address 192.0.2.1");
  CAF_CHECK(!back);
  CAF_CHECK_EQUAL(small.fair_evictions(), 2u);
}

CAF_TEST(merging keeps the newest item per sub key) {
  std::map<std::string, item> merged;
  merge_newest(merged, {item{"a", "old", 5}, item{"b", "b1", 5}});
  merge_newest(merged, {item{"a", "new", 9}, item{"b", "stale", 1}});
  CAF_CHECK_EQUAL(merged.at("a").value, "new");
  CAF_CHECK_EQUAL(merged.at("b").value, "b1");
}

CAF_TEST_FIXTURE_SCOPE_END()
