// The router's pure logic: beam search against brute force, the DHT cache's expiry rules, and
// the server book's death / revival / replica choice.
#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "actors/dht/ownership.hpp"
#include "actors/moe/beam_search.hpp"
#include "actors/moe/dht_cache.hpp"
#include "actors/moe/endpoint_proofs.hpp"
#include "actors/moe/server_book.hpp"

using namespace dmoe;
using namespace dmoe::moe;

namespace {

struct random_grid {
  std::vector<std::vector<float>> scores;
  std::set<grid_coords> live;
  std::map<grid_coords, std::vector<int64_t>> children;

  random_grid(std::mt19937_64& rng, size_t dims, int64_t max_size, double live_fraction) {
    std::normal_distribution<float> normal;
    std::uniform_int_distribution<int64_t> size(1, max_size);
    std::bernoulli_distribution alive(live_fraction);
    std::vector<int64_t> shape;
    for (size_t d = 0; d < dims; ++d) {
      shape.push_back(size(rng));
      scores.emplace_back();
      for (int64_t c = 0; c < shape.back(); ++c)
        scores.back().push_back(normal(rng));
    }
    grid_coords at(dims, 0);
    for (;;) {
      if (alive(rng))
        live.insert(at);
      size_t d = dims;
      while (d > 0 && ++at[d - 1] == shape[d - 1])
        at[--d] = 0;
      if (d == 0)
        break;
    }
    for (const auto& e : live)
      for (size_t d = 0; d < dims; ++d) {
        auto& next = children[grid_coords(e.begin(), e.begin() + static_cast<ptrdiff_t>(d))];
        if (std::find(next.begin(), next.end(), e[d]) == next.end())
          next.push_back(e[d]);
      }
  }

  live_children_fn oracle() const {
    return [this](const grid_coords& prefix) -> const std::vector<int64_t>* {
      auto i = children.find(prefix);
      return i == children.end() ? nullptr : &i->second;
    };
  }

  std::vector<scored_expert> brute_force(size_t wanted) const {
    std::vector<scored_expert> all;
    for (const auto& e : live) {
      double s = 0;
      for (size_t d = 0; d < e.size(); ++d)
        s += scores[d][static_cast<size_t>(e[d])];
      all.push_back({e, s});
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
    if (all.size() > wanted)
      all.resize(wanted);
    return all;
  }
};

/// `server`'s declaration of children `first`..`last` (experts), until `expiration`.
declared hosting(std::string server, uint32_t first, uint32_t last, double expiration) {
  return {prefix_declaration{std::move(server), {{first, last + 1}}, true}, expiration};
}

}  // namespace

#undef CAF_SUITE
#define CAF_SUITE moe.logic

CAF_TEST(beam search equals brute force over random live sets) {
  std::mt19937_64 rng{7};
  size_t compared = 0;
  size_t sparse = 0;
  for (int seed = 0; seed < 600; ++seed) {
    auto dims = static_cast<size_t>(1 + seed % 3);
    auto fraction = std::array<double, 4>{0.05, 0.2, 0.5, 0.9}[static_cast<size_t>(seed / 3) % 4];
    random_grid grid{rng, dims, 8, fraction};
    auto wanted = static_cast<size_t>(1 + rng() % 10);
    auto found = find_best_experts(grid.scores, wanted, grid.oracle());
    auto expected = grid.brute_force(wanted);
    CAF_REQUIRE_EQUAL(found.size(), expected.size());
    for (size_t i = 0; i < found.size(); ++i) {
      CAF_CHECK_EQUAL(found[i].coords, expected[i].coords);
      CAF_CHECK_LESS(std::abs(found[i].score - expected[i].score), 1e-9);
    }
    compared += found.size();
    if (grid.live.size() < wanted)
      ++sparse;
  }
  CAF_MESSAGE(compared << " experts compared, " << sparse << " grids with fewer live than wanted");
  CAF_CHECK_GREATER(sparse, 0u);
}

CAF_TEST(beam search asks only about prefixes in its beam level by level) {
  std::mt19937_64 rng{11};
  random_grid grid{rng, 3, 16, 0.3};
  beam_search search{grid.scores, 4};
  size_t levels = 0;
  while (!search.done()) {
    for (const auto& p : search.beam())
      CAF_CHECK_EQUAL(p.coords.size(), search.depth());
    search.expand(grid.oracle());
    ++levels;
    CAF_CHECK_LESS_OR_EQUAL(search.beam().size(), default_max_beam_width);
  }
  CAF_CHECK_EQUAL(levels, 3u);
  auto ranked = search.ranked();
  auto expected = grid.brute_force(4);
  CAF_REQUIRE_EQUAL(ranked.size(), expected.size());
  for (size_t i = 0; i < ranked.size(); ++i)
    CAF_CHECK_EQUAL(ranked[i].coords, expected[i].coords);
}

CAF_TEST(beam search ignores children outside the grid and duplicate children) {
  std::vector<std::vector<float>> scores{{1.0f, 2.0f}};
  std::vector<int64_t> children{1, 1, 5, -2, 0};
  auto found = find_best_experts(scores, 3, [&](const grid_coords&) { return &children; });
  CAF_REQUIRE_EQUAL(found.size(), 2u);
  CAF_CHECK_EQUAL(found[0].coords, grid_coords{1});
  CAF_CHECK_EQUAL(found[1].coords, grid_coords{0});
  auto none = find_best_experts(scores, 3, [](const grid_coords&) { return nullptr; });
  CAF_CHECK(none.empty());
}

CAF_TEST(the cache never returns expired items and marks lookups older than its max age stale) {
  dht_cache cache{2.0};
  cache.put("ffn.", {hosting("a", 1, 1, 110), hosting("b", 2, 2, 105)}, 100);
  auto* items = cache.fresh("ffn.", 101);
  CAF_REQUIRE(items != nullptr);
  CAF_CHECK_EQUAL(items->size(), 2u);
  items = cache.fresh("ffn.", 101.5);
  CAF_REQUIRE(items != nullptr);
  CAF_CHECK_EQUAL(items->size(), 2u);
  cache.put("ffn.", {hosting("a", 1, 1, 110), hosting("b", 2, 2, 100.5)}, 100);
  items = cache.fresh("ffn.", 101);
  CAF_REQUIRE(items != nullptr);
  CAF_REQUIRE_EQUAL(items->size(), 1u);
  CAF_CHECK_EQUAL(items->front().children.endpoint, "a");
  CAF_CHECK(cache.fresh("ffn.", 102) == nullptr);
  CAF_CHECK(cache.fresh("other", 100) == nullptr);
  // Past max_age a lookup is no longer fresh, but its unexpired items stay usable (the router
  // uses them while it looks again) until the last of them expires.
  items = cache.usable("ffn.", 105);
  CAF_REQUIRE(items != nullptr);
  CAF_CHECK_EQUAL(items->size(), 1u);
  cache.evict_stale(105);
  CAF_CHECK_EQUAL(cache.size(), 1u);
  CAF_CHECK(cache.usable("ffn.", 110) == nullptr);
  CAF_CHECK(cache.usable("other", 100) == nullptr);
  cache.evict_stale(110);
  CAF_CHECK_EQUAL(cache.size(), 0u);
  CAF_CHECK_EQUAL(prefix_key("ffn", {}), "ffn.");
  CAF_CHECK_EQUAL(prefix_key("ffn", {3}), "ffn.3.");
  CAF_CHECK_EQUAL(expert_id_of("ffn", {3, 17}), "ffn.3.17");
  auto coords = child_coordinates({hosting("a", 3, 5, 1), hosting("b", 12, 12, 1),
                                   hosting("c", 4, 6, 1)});
  CAF_CHECK_EQUAL(coords, (std::vector<int64_t>{3, 4, 5, 6, 12}));
}

CAF_TEST(a dead server stays dead until a newer declaration and a probe show it alive) {
  server_book book;
  CAF_CHECK(!book.saw_declaration("a:1", 100));  // alive: nothing to probe
  book.saw_declaration("b:1", 100);
  std::vector<std::string> replicas{"a:1", "b:1"};
  book.mark_dead("a:1");
  CAF_CHECK(book.is_dead("a:1"));
  CAF_CHECK_EQUAL(book.pick(replicas, 0), "b:1");
  CAF_CHECK(!book.saw_declaration("a:1", 100));  // the same declaration again: still dead
  CAF_CHECK(book.is_dead("a:1"));
  book.mark_dead("b:1");
  CAF_CHECK_EQUAL(book.pick(replicas, 0), "");
  CAF_CHECK_EQUAL(book.dead_servers(), (std::vector<std::string>{"a:1", "b:1"}));
  // A declaration made before the death that the router had not seen yet (another key's
  // lookup, a lagging replica): newer, but no proof of life. It asks for one probe.
  CAF_CHECK(book.saw_declaration("a:1", 110));
  CAF_CHECK(book.is_dead("a:1"));
  CAF_CHECK(!book.saw_declaration("a:1", 115));  // one probe at a time
  book.probe_finished("a:1", false);             // nobody answered there
  CAF_CHECK(book.is_dead("a:1"));
  CAF_CHECK(!book.saw_declaration("a:1", 110));  // not newer than the failed probe's
  CAF_CHECK(book.saw_declaration("a:1", 120));   // it declared again (restarted)
  book.probe_finished("a:1", true);
  CAF_CHECK(!book.is_dead("a:1"));
  CAF_CHECK_EQUAL(book.pick(replicas, 0), "a:1");
  // A probe that ends after the server died again does not revive it.
  book.saw_declaration("b:1", 130);
  book.mark_dead("b:1");
  book.probe_finished("b:1", true);
  CAF_CHECK(book.is_dead("b:1"));
}

CAF_TEST(replicas are chosen by latency times calls in flight) {
  server_book book;
  std::vector<std::string> replicas{"a:1", "b:1"};
  book.call_started("a:1");
  book.call_finished("a:1", 10.0);
  book.call_started("b:1");
  book.call_finished("b:1", 2.0);
  CAF_CHECK_EQUAL(book.pick(replicas, 0), "b:1");
  for (int i = 0; i < 8; ++i)
    book.call_started("b:1");  // b is fast but busy: 2 ms x 9 > 10 ms x 1
  CAF_CHECK_EQUAL(book.pick(replicas, 0), "a:1");
  for (int i = 0; i < 8; ++i)
    book.call_finished("b:1", 2.0);
  CAF_CHECK_EQUAL(book.pick(replicas, 0), "b:1");
  CAF_CHECK_LESS(std::abs(book.latency_ms("b:1") - 2.0), 1e-9);
}

CAF_TEST(an expert over its limit at a server is passed over there while its other experts are not) {
  server_book book;
  std::vector<std::string> replicas{"a:1", "b:1"};
  book.call_started("a:1");
  book.call_finished("a:1", 1.0);
  book.call_started("b:1");
  book.call_finished("b:1", 5.0);
  book.mark_expert_busy("a:1", "ffn.0.0", 10.25);
  CAF_CHECK_EQUAL(book.pick(replicas, 10.0, "ffn.0.0"), "b:1");
  CAF_CHECK_EQUAL(book.pick(replicas, 10.0, "ffn.0.1"), "a:1");  // the server itself is not busy
  CAF_CHECK(!book.is_busy("a:1", 10.0));
  CAF_CHECK_EQUAL(book.pick(replicas, 10.3, "ffn.0.0"), "a:1");  // the backoff ended
}

CAF_TEST(a server that refused a call as overloaded is passed over until its backoff ends) {
  server_book book;
  std::vector<std::string> replicas{"a:1", "b:1"};
  book.call_started("a:1");
  book.call_finished("a:1", 1.0);
  book.call_started("b:1");
  book.call_finished("b:1", 5.0);
  CAF_CHECK_EQUAL(book.pick(replicas, 10.0), "a:1");
  book.mark_busy("a:1", 10.25);
  CAF_CHECK(book.is_busy("a:1", 10.1));
  CAF_CHECK_EQUAL(book.pick(replicas, 10.1), "b:1");
  book.mark_busy("b:1", 10.25);
  CAF_CHECK_EQUAL(book.pick(replicas, 10.2), "");  // every replica busy: use a spare expert
  CAF_CHECK_EQUAL(book.pick(replicas, 10.3), "a:1");
  CAF_CHECK(!book.is_dead("a:1"));
}

CAF_TEST(endpoint proofs are remembered for a while and forgotten oldest first) {
  using status = endpoint_proofs::status;
  endpoint_proofs proofs{600, 30, 2};
  CAF_CHECK(proofs.check("a:1", "k", 0) == status::unknown);
  proofs.finished("a:1", "k", true, 10);
  CAF_CHECK(proofs.check("a:1", "k", 609) == status::proven);
  // Past its time a proof is stale: still usable while it is asked again.
  CAF_CHECK(proofs.check("a:1", "k", 611) == status::stale);
  CAF_CHECK(proofs.usable("a:1", "k", 611));
  CAF_CHECK(proofs.check("a:1", "other key", 20) == status::unknown);  // per key, not endpoint
  proofs.finished("b:2", "k", false, 10);
  CAF_CHECK(proofs.check("b:2", "k", 39) == status::refused);
  CAF_CHECK(!proofs.usable("b:2", "k", 39));
  CAF_CHECK(proofs.check("b:2", "k", 41) == status::unknown);
  // An answer that the key is gone takes a proven endpoint away.
  proofs.finished("a:1", "k", false, 620);
  CAF_CHECK(!proofs.usable("a:1", "k", 621));
  proofs.finished("c:3", "k", true, 10);  // a third: the oldest ("a:1") is forgotten
  CAF_CHECK_EQUAL(proofs.size(), 2u);
  CAF_CHECK(proofs.check("a:1", "k", 20) == status::unknown);
  CAF_CHECK(proofs.check("c:3", "k", 20) == status::proven);
  // The owners met: those with a proven endpoint the table still holds.
  CAF_CHECK(proofs.owner_met("k"));
  CAF_CHECK(!proofs.owner_met("other key"));
  proofs.finished("c:3", "k", false, 30);
  CAF_CHECK(!proofs.owner_met("k"));
}

CAF_TEST(a declaration carries the key that signed it) {
  auto owner = dht::identity::generate();
  dht::id160 key{};  // any key: the owner's signature covers it
  key[0] = 7;
  auto value = encode_declaration(prefix_declaration{"a:1", {{0, 2}}, true});
  auto read = read_declarations({dht::owned_item(*owner, key, "0", value, 100),
                                 dht::item{"plain", value, 100}});
  CAF_REQUIRE_EQUAL(read.size(), 2u);
  CAF_CHECK_EQUAL(read[0].owner, owner->public_key());
  CAF_CHECK(read[1].owner.empty());
}
