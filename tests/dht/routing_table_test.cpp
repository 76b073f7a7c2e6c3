#define CAF_SUITE dht.routing_table
#include <caf/test/unit_test.hpp>

#include <algorithm>

#include "actors/dht/routing_table.hpp"

using namespace dmoe::dht;

namespace {

struct fixture {
  std::mt19937_64 rng{42};
  id160 self = random_id(rng);

  node_info at_prefix(size_t bits) {
    return node_info{random_id_with_prefix(self, bits, rng), "inproc:" + std::to_string(rng())};
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(routing_table_tests, fixture)

CAF_TEST(ids and distances) {
  CAF_CHECK_EQUAL(common_prefix_bits(self, self), id_bits);
  for (size_t bits : {0u, 1u, 7u, 8u, 9u, 80u, 159u}) {
    auto other = random_id_with_prefix(self, bits, rng);
    CAF_CHECK_EQUAL(common_prefix_bits(self, other), bits);
  }
  auto a = random_id(rng);
  CAF_CHECK(distance(a, a) == id160{});
  CAF_CHECK(distance(a, self) == distance(self, a));
  CAF_CHECK(key_id("ffn.3.17") == key_id("ffn.3.17"));
  CAF_CHECK(key_id("ffn.3.17") != key_id("ffn.3.18"));
  CAF_CHECK_EQUAL(to_hex(key_id("")).size(), 40u);
  // RIPEMD-160 of the empty string, a published test vector.
  CAF_CHECK_EQUAL(to_hex(key_id("")), "9c1185a5c5e9fc54612808977ee8f548b2258d31");
}

CAF_TEST(insert update and ignore self) {
  routing_table table{self, 4};
  auto a = at_prefix(0);
  CAF_CHECK(table.seen(a, 1.0).result == routing_table::outcome::inserted);
  CAF_CHECK(table.seen(a, 2.0).result == routing_table::outcome::updated);
  CAF_CHECK(table.seen(node_info{self, "me"}, 2.0).result == routing_table::outcome::ignored);
  CAF_CHECK_EQUAL(table.size(), 1u);
  CAF_CHECK(table.contains(a.id));
}

CAF_TEST(the bucket holding our own id splits) {
  routing_table table{self, 2};
  // Far contacts fill bucket 0, then near ones force splits.
  for (size_t bits : {0u, 0u, 1u, 2u, 3u, 3u})
    table.seen(at_prefix(bits), 1.0);
  CAF_CHECK_EQUAL(table.size(), 6u);
  CAF_CHECK_GREATER_OR_EQUAL(table.bucket_count(), 4u);
  for (size_t i = 0; i < table.bucket_count(); ++i)
    CAF_CHECK_LESS_OR_EQUAL(table.bucket_size(i), 2u);
}

CAF_TEST(a full far bucket asks to ping its least recently seen contact) {
  routing_table table{self, 2};
  table.seen(at_prefix(3), 1.0);  // forces the table to have buckets 0..3
  table.seen(at_prefix(3), 1.0);
  table.seen(at_prefix(3), 1.0);
  auto first = at_prefix(0);
  auto second = at_prefix(0);
  table.seen(first, 1.0);
  table.seen(second, 2.0);
  auto newcomer = at_prefix(0);
  auto result = table.seen(newcomer, 3.0);
  CAF_REQUIRE(result.result == routing_table::outcome::pending);
  CAF_REQUIRE(result.ping_candidate.has_value());
  CAF_CHECK(result.ping_candidate->id == first.id);
  CAF_CHECK(!table.contains(newcomer.id));
  // The old contact answered: it stays, the newcomer waits.
  table.seen(first, 4.0);
  CAF_CHECK(table.contains(first.id));
  CAF_CHECK(!table.contains(newcomer.id));
  // Now `second` is least recently seen; it does not answer and is replaced by the newcomer.
  auto again = table.seen(at_prefix(0), 5.0);
  CAF_CHECK(again.ping_candidate->id == second.id);
  CAF_CHECK(table.remove(second.id));
  CAF_CHECK(!table.contains(second.id));
  CAF_CHECK_EQUAL(table.bucket_size(0), 2u);
}

CAF_TEST(contacts are dropped after repeated failures) {
  routing_table table{self, 4};
  auto a = at_prefix(0);
  table.seen(a, 1.0);
  CAF_CHECK(!table.failed(a.id, 3));
  CAF_CHECK(!table.failed(a.id, 3));
  table.seen(a, 2.0);  // an answer resets the count
  CAF_CHECK(!table.failed(a.id, 3));
  CAF_CHECK(!table.failed(a.id, 3));
  CAF_CHECK(table.failed(a.id, 3));
  CAF_CHECK(!table.contains(a.id));
}

CAF_TEST(closest matches brute force) {
  routing_table table{self, 20};
  std::vector<node_info> all;
  for (int i = 0; i < 300; ++i) {
    node_info n{random_id(rng), "inproc:" + std::to_string(i)};
    if (table.seen(n, 1.0).result == routing_table::outcome::inserted)
      all.push_back(n);
  }
  CAF_CHECK_EQUAL(table.size(), all.size());
  for (int trial = 0; trial < 20; ++trial) {
    auto target = random_id(rng);
    auto got = table.closest(target, 10);
    auto expected = all;
    std::sort(expected.begin(), expected.end(), [&](const auto& a, const auto& b) {
      return closer(target, a.id, b.id);
    });
    CAF_REQUIRE_EQUAL(got.size(), 10u);
    for (size_t i = 0; i < 10; ++i)
      CAF_CHECK(got[i].id == expected[i].id);
  }
  auto excluded = table.closest(all[0].id, 5, &all[0].id);
  CAF_CHECK(std::none_of(excluded.begin(), excluded.end(),
                         [&](const auto& n) { return n.id == all[0].id; }));
}

CAF_TEST(random ids fall into the requested bucket and idle buckets are reported) {
  routing_table table{self, 2};
  for (size_t bits = 0; bits < 6; ++bits)
    for (int j = 0; j < 3; ++j)
      table.seen(at_prefix(bits), 1.0);
  for (size_t index = 0; index + 1 < table.bucket_count(); ++index)
    CAF_CHECK_EQUAL(common_prefix_bits(self, table.random_id_in_bucket(index, rng)), index);
  auto last = table.bucket_count() - 1;
  CAF_CHECK_GREATER_OR_EQUAL(common_prefix_bits(self, table.random_id_in_bucket(last, rng)),
                             last);
  CAF_CHECK_EQUAL(table.idle_buckets(100.0, 50.0).size(), table.bucket_count());
  table.touched(random_id_with_prefix(self, 0, rng), 90.0);
  CAF_CHECK_EQUAL(table.idle_buckets(100.0, 50.0).size(), table.bucket_count() - 1);
}

CAF_TEST_FIXTURE_SCOPE_END()
