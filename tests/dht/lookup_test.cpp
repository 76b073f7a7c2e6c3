#define CAF_SUITE dht.lookup
#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "actors/dht/lookup.hpp"
#include "actors/dht/routing_table.hpp"

using namespace dmoe::dht;

namespace {

// A network simulated in memory: every node has a real routing table that has heard of every
// other node once, in random order (the state a Kademlia network converges to: full buckets
// far away, exact knowledge of the nearest neighbours); lookups are driven synchronously.
struct fixture {
  static constexpr size_t nodes = 400;
  static constexpr size_t k = 8;
  std::mt19937_64 rng{7};
  std::vector<node_info> infos;
  std::map<id160, routing_table> tables;
  std::set<id160> dead;

  fixture() {
    for (size_t i = 0; i < nodes; ++i)
      infos.push_back(node_info{random_id(rng), "inproc:" + std::to_string(i)});
    for (const auto& n : infos) {
      auto& table = tables.emplace(n.id, routing_table{n.id, k}).first->second;
      std::vector<node_info> sample = infos;
      std::shuffle(sample.begin(), sample.end(), rng);
      for (const auto& other : sample)
        table.seen(other, 1.0);
    }
  }

  lookup run(const node_info& from, const id160& target, size_t alpha) {
    lookup search{target, from.id, k, alpha, tables.at(from.id).closest(target, k)};
    for (int guard = 0; !search.done() && guard < 10000; ++guard)
      for (const auto& peer : search.next()) {
        if (dead.count(peer.id))
          search.failed(peer.id);
        else
          search.answered(peer.id, tables.at(peer.id).closest(target, k, &from.id));
      }
    return search;
  }

  std::vector<id160> brute_force(const id160& target, const id160& exclude) {
    std::vector<id160> ids;
    for (const auto& n : infos)
      if (!dead.count(n.id) && n.id != exclude)
        ids.push_back(n.id);
    std::sort(ids.begin(), ids.end(),
              [&](const id160& a, const id160& b) { return closer(target, a, b); });
    ids.resize(k);
    return ids;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(lookup_tests, fixture)

CAF_TEST(lookups find the true k closest nodes) {
  size_t max_rounds = 0;
  for (int trial = 0; trial < 50; ++trial) {
    auto target = random_id(rng);
    const auto& from = infos[rng() % nodes];
    auto search = run(from, target, 3);
    CAF_REQUIRE(search.done());
    auto got = search.closest_answered();
    auto expected = brute_force(target, from.id);
    CAF_REQUIRE_EQUAL(got.size(), k);
    for (size_t i = 0; i < k; ++i)
      CAF_CHECK(got[i].id == expected[i]);
    max_rounds = std::max(max_rounds, search.rounds());
  }
  CAF_MESSAGE("most rounds over 50 lookups: " << max_rounds);
  CAF_CHECK_LESS_OR_EQUAL(max_rounds, static_cast<size_t>(std::log2(nodes)));
}

CAF_TEST(failed contacts are skipped and never returned) {
  for (size_t i = 0; i < nodes; i += 5)
    dead.insert(infos[i].id);
  size_t total_failures = 0;
  for (int trial = 0; trial < 30; ++trial) {
    auto target = random_id(rng);
    const auto& from = infos[1 + 5 * (rng() % (nodes / 5 - 1))];
    auto search = run(from, target, 3);
    CAF_REQUIRE(search.done());
    auto got = search.closest_answered();
    for (const auto& n : got)
      CAF_CHECK(dead.count(n.id) == 0);
    // The simulated tables still list the dead, so peers name at most the k closest including
    // them: every living node among those must be found, the nearest living one first.
    auto dead_now = std::move(dead);
    auto top = brute_force(target, from.id);
    dead = std::move(dead_now);
    for (const auto& id : top)
      if (dead.count(id) == 0)
        CAF_CHECK(std::any_of(got.begin(), got.end(), [&](const auto& n) { return n.id == id; }));
    CAF_CHECK(got.front().id == brute_force(target, from.id).front());
    total_failures += search.failures();
  }
  CAF_CHECK_GREATER(total_failures, 0u);  // the dead were really asked
}

CAF_TEST(at most alpha requests are in flight) {
  auto target = random_id(rng);
  lookup search{target, infos[0].id, k, 2, tables.at(infos[0].id).closest(target, k)};
  auto first = search.next();
  CAF_CHECK_EQUAL(first.size(), 2u);
  CAF_CHECK(search.next().empty());
  search.failed(first[0].id);
  CAF_CHECK_EQUAL(search.next().size(), 1u);
  CAF_CHECK(!search.done());
}

CAF_TEST(a lookup without contacts ends at once) {
  lookup search{random_id(rng), infos[0].id, k, 3, {}};
  CAF_CHECK(search.done());
  CAF_CHECK(search.next().empty());
  CAF_CHECK(search.closest_answered().empty());
}

CAF_TEST_FIXTURE_SCOPE_END()
