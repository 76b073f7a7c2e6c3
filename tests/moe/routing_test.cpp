// moe.routing: a forward job's route without actors, DHT or clock: the lookups it asks for
// round by round, the calls it chooses and how they spread over replicas, rerouting to spares,
// splitting to a server's batch limit, probes of revived servers, and the backward calls.
#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <map>

#include "actors/moe/routing.hpp"

using namespace dmoe;
using namespace dmoe::moe;

namespace {

constexpr double t0 = 1000;  // "now" in these tests
constexpr double alive_until = t0 + 60;

using grid_dht = std::map<std::string, std::vector<declared>>;

/// `server`'s declaration of `children` under some prefix (experts when `leaves`).
declared hosts(const std::string& server, const std::vector<int64_t>& children, bool leaves,
               double expiration = alive_until) {
  prefix_declaration d;
  d.endpoint = server;
  d.leaves = leaves;
  for (auto c : children)
    d.children.push_back({static_cast<uint32_t>(c), static_cast<uint32_t>(c + 1)});
  return {d, expiration};
}

/// Expert ffn.<a>.<b> declared by `servers` only, until `expiration`.
void replicas(grid_dht& dht, int64_t a, int64_t b, const std::vector<std::string>& servers,
              double expiration = alive_until) {
  auto& items = dht["ffn." + std::to_string(a) + "."];
  items.erase(std::remove_if(items.begin(), items.end(),
                             [b](const declared& x) { return x.children.contains(b); }),
              items.end());
  for (const auto& server : servers)
    items.push_back(hosts(server, {b}, true, expiration));
}

// A 2 x 3 grid "ffn": scores make ffn.0.2 > ffn.0.1 > ffn.0.0 > ffn.1.2 > ffn.1.1 > ffn.1.0.
std::vector<std::vector<float>> ranked_scores() {
  return {{10, 0}, {0, 1, 2}};
}

route_rules rules(size_t k_best, size_t spares, size_t k_min) {
  return route_rules{k_best, spares, k_min, true};
}

// Answers every lookup the route asks for from `dht` until it calls; a key `dht` lacks is a
// lookup that failed (never found()).
route_actions run_lookups(forward_route& route, route_actions next,
                          const grid_dht& dht,
                          server_book& servers, double now = t0) {
  for (int round = 0; round < 8 && !route.routed(); ++round) {
    for (const auto& key : next.lookups)
      if (auto i = dht.find(key); i != dht.end())
        route.found(key, i->second);
    next = route.lookups_done(now, servers);
  }
  CAF_REQUIRE(route.routed());
  return next;
}

// The full 2 x 3 grid, each expert at its own server "s<d0><d1>".
grid_dht full_grid(double row_0_until = alive_until) {
  grid_dht dht;
  for (int64_t a = 0; a < 2; ++a) {
    for (int64_t b = 0; b < 3; ++b) {
      auto server = "s" + std::to_string(a) + std::to_string(b);
      dht["ffn."].push_back(hosts(server, {a}, false, a == 0 ? row_0_until : alive_until));
      dht["ffn." + std::to_string(a) + "."].push_back(hosts(server, {b}, true));
    }
  }
  return dht;
}

}  // namespace

#undef CAF_SUITE
#define CAF_SUITE moe.routing

CAF_TEST(the route looks up one grid level per round then calls the replicas they name) {
  forward_route route{"ffn", {ranked_scores()}, rules(2, 1, 1)};
  server_book servers;
  auto next = route.start();
  CAF_CHECK_EQUAL(next.lookups, (std::vector<std::string>{"ffn."}));
  route.found("ffn.", {hosts("a", {0}, false), hosts("b", {0}, false), hosts("c", {0}, false),
                       hosts("d", {1}, false)});
  next = route.lookups_done(t0, servers);
  CAF_CHECK_EQUAL(next.lookups, (std::vector<std::string>{"ffn.0.", "ffn.1."}));
  CAF_CHECK(!route.routed());
  route.found("ffn.0.", {hosts("a", {0}, true), hosts("b", {1}, true), hosts("c", {2}, true)});
  route.found("ffn.1.", {hosts("d", {0, 1, 2}, true)});
  next = route.lookups_done(t0, servers);
  // The 3 best (2 + 1 spare) of the 6; ffn.1.x score at most 2, ffn.0.x at least 10. The
  // last round's declarations name their servers: no further lookup.
  CAF_CHECK(next.lookups.empty());
  CAF_REQUIRE(route.routed());
  CAF_REQUIRE_EQUAL(next.calls.size(), 2u);  // the two best; ffn.0.0 is the spare
  CAF_CHECK_EQUAL(next.calls[0].expert_id, "ffn.0.1");
  CAF_CHECK_EQUAL(next.calls[0].server, "b");
  CAF_CHECK_EQUAL(next.calls[0].slots, (std::vector<int64_t>{1}));
  CAF_CHECK_EQUAL(next.calls[1].expert_id, "ffn.0.2");
  CAF_CHECK_EQUAL(next.calls[1].slots, (std::vector<int64_t>{0}));
  CAF_CHECK_EQUAL(route.calls_sent(), 2u);
  CAF_CHECK(route.next() == quorum::step::wait);
}

CAF_TEST(each sample calls its own best experts that have an unexpired declaration) {
  auto dht = full_grid();
  replicas(dht, 0, 2, {"gone"}, t0 - 1);  // its declaration lapsed
  // Sample 0 prefers ffn.0.x, sample 1 ffn.1.x (best ffn.1.0, then ffn.1.1).
  std::vector<std::vector<float>> second{{0, 10}, {2, 1, 0}};
  forward_route route{"ffn", {ranked_scores(), second}, rules(1, 1, 1)};
  server_book servers;
  auto next = run_lookups(route, route.start(), dht, servers);
  CAF_REQUIRE_EQUAL(next.calls.size(), 2u);
  std::map<std::string, routed_call> by_expert;
  for (const auto& c : next.calls)
    by_expert[c.expert_id] = c;
  CAF_REQUIRE(by_expert.count("ffn.0.1") == 1);  // ffn.0.2 would score more but is not live
  CAF_CHECK_EQUAL(by_expert["ffn.0.1"].rows, (std::vector<int64_t>{0}));
  CAF_REQUIRE(by_expert.count("ffn.1.0") == 1);
  CAF_CHECK_EQUAL(by_expert["ffn.1.0"].rows, (std::vector<int64_t>{1}));
  CAF_CHECK_EQUAL(by_expert["ffn.1.0"].server, "s10");
}

CAF_TEST(a failed call moves its slots to the next spare of each sample with a live replica) {
  forward_route route{"ffn", {ranked_scores(), ranked_scores()}, rules(1, 3, 1)};
  server_book servers;
  auto next = run_lookups(route, route.start(), full_grid(), servers);
  CAF_REQUIRE_EQUAL(next.calls.size(), 1u);
  auto first = next.calls[0];
  CAF_CHECK_EQUAL(first.expert_id, "ffn.0.2");
  CAF_CHECK_EQUAL(first.rows, (std::vector<int64_t>{0, 1}));
  servers.mark_dead("s01");  // the next spare's only server died meanwhile
  next = route.failed(first, t0, servers);
  CAF_REQUIRE_EQUAL(next.calls.size(), 1u);
  CAF_CHECK_EQUAL(next.calls[0].expert_id, "ffn.0.0");
  CAF_CHECK_EQUAL(next.calls[0].rows, (std::vector<int64_t>{0, 1}));
  CAF_CHECK_EQUAL(next.calls[0].slots, (std::vector<int64_t>{0, 0}));
  CAF_CHECK_EQUAL(route.rerouted(), 2u);
  CAF_CHECK(route.next() == quorum::step::wait);
  route.answered(next.calls[0]);
  CAF_CHECK(route.next() == quorum::step::finish);
  CAF_CHECK_EQUAL(route.below_k_min(), 0u);
  const auto* expert = route.answered_expert(1, 0);
  CAF_REQUIRE(expert != nullptr);
  CAF_CHECK_EQUAL(*expert, (grid_coords{0, 0}));
}

CAF_TEST(a sample that can no longer reach k_min ends a strict job while other calls are out) {
  for (bool strict : {true, false}) {
    // Two samples, k_min 1; sample 0's call fails and it has no spare left.
    std::vector<std::vector<float>> second{{0, 10}, {2, 1, 0}};
    forward_route route{"ffn", {ranked_scores(), second}, route_rules{1, 0, 1, strict}};
    server_book servers;
    auto next = run_lookups(route, route.start(), full_grid(), servers);
    CAF_REQUIRE_EQUAL(next.calls.size(), 2u);
    const auto& of_sample_0 = next.calls[0].rows == std::vector<int64_t>{0} ? next.calls[0]
                                                                           : next.calls[1];
    CAF_CHECK(route.failed(of_sample_0, t0, servers).calls.empty());
    // Sample 1's call is still out: a strict job ends now, a lenient one waits for it.
    CAF_CHECK(route.next() == (strict ? quorum::step::finish : quorum::step::wait));
    CAF_CHECK_EQUAL(route.below_k_min(), 2u);
  }
}

CAF_TEST(a sample out of spares ends a strict job short of k_min) {
  forward_route route{"ffn", {ranked_scores()}, rules(1, 1, 1)};
  server_book servers;
  auto next = run_lookups(route, route.start(), full_grid(), servers);
  CAF_REQUIRE_EQUAL(next.calls.size(), 1u);
  next = route.failed(next.calls[0], t0, servers);
  CAF_REQUIRE_EQUAL(next.calls.size(), 1u);  // the one spare
  next = route.failed(next.calls[0], t0, servers);
  CAF_CHECK(next.calls.empty());
  CAF_CHECK(route.next() == quorum::step::finish);
  CAF_CHECK_EQUAL(route.below_k_min(), 1u);
  CAF_CHECK(route.answered_expert(0, 0) == nullptr);
}

CAF_TEST(rows beyond the batch limit of a server are split and a refusal asks for the limit once) {
  std::vector<std::vector<std::vector<float>>> scores(5, ranked_scores());
  forward_route route{"ffn", scores, rules(1, 1, 1)};
  server_book servers;
  auto next = run_lookups(route, route.start(), full_grid(), servers);
  CAF_REQUIRE_EQUAL(next.calls.size(), 1u);
  auto all = next.calls[0];
  CAF_CHECK_EQUAL(all.rows.size(), 5u);
  next = route.too_many_rows(all, t0, servers);
  CAF_REQUIRE(next.ask_limit.has_value());  // the rows stay out while the server is asked
  CAF_CHECK(next.calls.empty());
  CAF_CHECK(route.next() == quorum::step::wait);
  CAF_CHECK(!batch_limit_usable(0, 5));
  CAF_CHECK(!batch_limit_usable(5, 5));
  CAF_CHECK(batch_limit_usable(2, 5));
  servers.set_batch_limit(all.server, 2);
  next = route.resend(*next.ask_limit, t0, servers);
  CAF_REQUIRE_EQUAL(next.calls.size(), 3u);
  CAF_CHECK_EQUAL(next.calls[0].rows, (std::vector<int64_t>{0, 1}));
  CAF_CHECK_EQUAL(next.calls[1].rows, (std::vector<int64_t>{2, 3}));
  CAF_CHECK_EQUAL(next.calls[2].rows, (std::vector<int64_t>{4}));
  CAF_CHECK_EQUAL(route.calls_sent(), 4u);
  CAF_CHECK_EQUAL(route.rerouted(), 0u);
  // Refused again although the limit is known: a plain failure, to the spare.
  auto refused = next.calls[0];
  next = route.too_many_rows(refused, t0, servers);
  CAF_CHECK(!next.ask_limit.has_value());
  CAF_REQUIRE_EQUAL(next.calls.size(), 1u);
  CAF_CHECK_EQUAL(next.calls[0].expert_id, "ffn.0.1");
}

CAF_TEST(a dead server declaring again is probed and not called until it answers) {
  auto dht = full_grid();
  replicas(dht, 0, 2, {"s02"}, alive_until + 30);
  server_book servers;
  servers.saw_declaration("s02", alive_until);
  servers.mark_dead("s02");
  forward_route route{"ffn", {ranked_scores()}, rules(1, 1, 1)};
  auto next = run_lookups(route, route.start(), dht, servers);
  CAF_CHECK_EQUAL(next.probes, (std::vector<std::string>{"s02"}));
  CAF_REQUIRE_EQUAL(next.calls.size(), 1u);
  CAF_CHECK_EQUAL(next.calls[0].expert_id, "ffn.0.1");  // the best live one meanwhile
  servers.probe_finished("s02", true);  // it answered: the next job calls it again
  forward_route later{"ffn", {ranked_scores()}, rules(1, 1, 1)};
  next = run_lookups(later, later.start(), dht, servers);
  CAF_CHECK(next.probes.empty());
  CAF_REQUIRE_EQUAL(next.calls.size(), 1u);
  CAF_CHECK_EQUAL(next.calls[0].server, "s02");
}

CAF_TEST(calls of one round spread over replicas as they are counted in flight) {
  auto dht = full_grid();
  replicas(dht, 0, 1, {"a", "b"});
  replicas(dht, 0, 2, {"a", "b"});
  server_book servers;
  servers.call_finished("a", 10.0);  // a is faster: alone it would take both calls
  servers.call_finished("b", 15.0);
  // Sample 0 wants ffn.0.2, sample 1 ffn.0.1.
  std::vector<std::vector<float>> second{{10, 0}, {0, 2, 1}};
  forward_route route{"ffn", {ranked_scores(), second}, rules(1, 0, 1)};
  auto next = run_lookups(route, route.start(), dht, servers);
  CAF_REQUIRE_EQUAL(next.calls.size(), 2u);
  CAF_CHECK_EQUAL(next.calls[0].server, "a");
  CAF_CHECK_EQUAL(next.calls[1].server, "b");  // 15 ms x 1 beats 10 ms x 2
  CAF_CHECK_EQUAL(servers.in_flight("a"), 1u);
  CAF_CHECK_EQUAL(servers.in_flight("b"), 1u);
}

CAF_TEST(declarations and children past their expiration are not routed to) {
  auto dht = full_grid(t0 - 1);  // grid row 0 lapsed
  forward_route route{"ffn", {ranked_scores()}, rules(1, 1, 1)};
  server_book servers;
  auto next = run_lookups(route, route.start(), dht, servers);
  CAF_REQUIRE_EQUAL(next.calls.size(), 1u);
  CAF_CHECK_EQUAL(next.calls[0].expert_id, "ffn.1.2");
  CAF_CHECK_EQUAL(next.calls[0].server, "s12");
}

CAF_TEST(backward calls go to the servers of the forward that are still alive) {
  server_book servers;
  std::vector<routed_call> answered{{"ffn.0.1", "a", {0, 1}, {0, 0}}, {"ffn.0.2", "b", {1}, {1}}};
  servers.mark_dead("b");
  auto calls = backward_calls(answered, servers);
  CAF_REQUIRE_EQUAL(calls.size(), 1u);
  CAF_CHECK_EQUAL(calls[0].expert_id, "ffn.0.1");
  CAF_CHECK_EQUAL(calls[0].rows, (std::vector<int64_t>{0, 1}));
  CAF_CHECK_EQUAL(servers.in_flight("a"), 1u);
  CAF_CHECK_EQUAL(servers.in_flight("b"), 0u);
}
