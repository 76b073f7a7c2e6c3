#include <caf/test/unit_test.hpp>

#include "messages/errors.hpp"
#include "actors/dht/local_swarm.hpp"
#include "messages/type_ids.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::dht;
using dmoe::test::poll_until;

namespace {

constexpr size_t swarm_size = 200;

dht_options swarm_options(size_t k) {
  dht_options options;
  options.k = k;
  options.request_timeout = std::chrono::seconds(2);
  options.replication_interval = std::chrono::hours(1);  // replication is triggered by the tests
  return options;
}

caf::actor_system_config& quiet_config() {
  static caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  return cfg;
}

struct fixture {
  caf::actor_system system{quiet_config()};
};

std::string value_of(size_t i) {
  return "value-" + std::to_string(i);
}

}  // namespace

#undef CAF_SUITE
#define CAF_SUITE dht.swarm
CAF_TEST_FIXTURE_SCOPE(swarm_tests, fixture)

CAF_TEST(any node finds any key stored through any other node) {
  local_swarm s{system, swarm_size, swarm_options(20)};
  constexpr size_t keys = 200;
  auto expiration = s.now() + 600;
  for (size_t i = 0; i < keys; ++i) {
    auto stored = dht::store(system, s.nodes[s.random_alive()], "key-" + std::to_string(i), "",
                             value_of(i), expiration);
    CAF_REQUIRE(stored);
    CAF_CHECK_GREATER_OR_EQUAL(stored->replicas, 20u);
  }
  size_t found = 0;
  uint32_t max_rounds = 0;
  for (size_t i = 0; i < keys; ++i) {
    auto got = dht::get(system, s.nodes[s.random_alive()], "key-" + std::to_string(i));
    CAF_REQUIRE(got);
    if (got->items.size() == 1 && got->items[0].value == value_of(i))
      ++found;
    max_rounds = std::max(max_rounds, got->stats.rounds);
  }
  CAF_MESSAGE("found " << found << " of " << keys << " keys, at most " << max_rounds << " rounds");
  CAF_CHECK_EQUAL(found, keys);
  CAF_CHECK_LESS_OR_EQUAL(max_rounds, 8u);
  auto missing = dht::get(system, s.nodes[0], "never-stored");
  CAF_REQUIRE(missing);
  CAF_CHECK(missing->items.empty());
}

CAF_TEST(newest value wins sub keys merge and items expire) {
  local_swarm s{system, swarm_size, swarm_options(20)};
  auto t = s.now();
  CAF_REQUIRE(dht::store(system, s.nodes[1], "model", "", "v1", t + 100));
  CAF_REQUIRE(dht::store(system, s.nodes[2], "model", "", "v2", t + 200));
  CAF_REQUIRE(dht::store(system, s.nodes[3], "model", "", "stale", t + 50));
  auto got = dht::get(system, s.nodes[4], "model");
  CAF_REQUIRE(got);
  CAF_REQUIRE_EQUAL(got->items.size(), 1u);
  CAF_CHECK_EQUAL(got->items[0].value, "v2");
  // Ten servers declare under one prefix key, each with its own sub-key and expiry.
  for (int server = 0; server < 10; ++server)
    CAF_REQUIRE(dht::store(system, s.nodes[10 + server], "ffn.3.", "server-" + std::to_string(server),
                           "127.0.0.1:" + std::to_string(6000 + server), t + 30 + server * 10));
  auto prefix = dht::get(system, s.nodes[100], "ffn.3.");
  CAF_REQUIRE(prefix);
  CAF_CHECK_EQUAL(prefix->items.size(), 10u);
  auto server7 = find_subkey(prefix->items, "server-7");
  CAF_REQUIRE(server7 != nullptr);
  CAF_CHECK_EQUAL(server7->value, "127.0.0.1:6007");
  // 75 s later the first five declarations have expired.
  s.clock_offset->store(75);
  auto later = dht::get(system, s.nodes[150], "ffn.3.");
  CAF_REQUIRE(later);
  CAF_CHECK_EQUAL(later->items.size(), 5u);
  CAF_CHECK(find_subkey(later->items, "server-0") == nullptr);
  CAF_CHECK(find_subkey(later->items, "server-9") != nullptr);
  s.clock_offset->store(1000);
  auto gone = dht::get(system, s.nodes[5], "model");
  CAF_REQUIRE(gone);
  CAF_CHECK(gone->items.empty());
}

CAF_TEST(bad client input is refused with clear errors) {
  local_swarm s{system, 20, swarm_options(20)};
  auto t = s.now();
  auto expired = dht::store(system, s.nodes[0], "k", "", "v", t - 1);
  CAF_CHECK(!expired && code_of(expired.error()) == errc::expired);
  auto far = dht::store(system, s.nodes[0], "k", "", "v", t + 7 * 24 * 3600);
  CAF_CHECK(!far && code_of(far.error()) == errc::invalid_argument);
  auto big = dht::store(system, s.nodes[0], "k", "", std::string(100000, 'x'), t + 10);
  CAF_CHECK(!big && code_of(big.error()) == errc::limit_exceeded);
  CAF_CHECK(dht::store(system, s.nodes[0], "k", "", "v", t + 10));
}

CAF_TEST_FIXTURE_SCOPE_END()

#undef CAF_SUITE
#define CAF_SUITE dht.churn
CAF_TEST_FIXTURE_SCOPE(churn_tests, fixture)

CAF_TEST(keys survive the abrupt death of a quarter of the nodes) {
  // k = 8 keeps fewer replicas than the default, so replication has real work to do.
  local_swarm s{system, swarm_size, swarm_options(8)};
  constexpr size_t keys = 300;
  auto expiration = s.now() + 600;
  for (size_t i = 0; i < keys; ++i)
    CAF_REQUIRE(dht::store(system, s.nodes[s.random_alive()], "churn-" + std::to_string(i), "",
                           value_of(i), expiration));
  size_t killed = 0;
  for (int wave = 0; wave < 2; ++wave) {
    killed += s.kill(0.25);
    s.replicate_everywhere();
    size_t found = 0;
    for (size_t i = 0; i < keys; ++i) {
      auto got = dht::get(system, s.nodes[s.random_alive()], "churn-" + std::to_string(i));
      if (got && got->items.size() == 1 && got->items[0].value == value_of(i))
        ++found;
    }
    CAF_MESSAGE("wave " << wave << ": " << killed << " of " << swarm_size << " nodes killed, "
                        << found << " of " << keys << " keys found");
    CAF_CHECK_GREATER_OR_EQUAL(found * 100, keys * 99);
  }
}

CAF_TEST(a node left without contacts joins again through its bootstrap peers) {
  // Node 1 knows only node 0. Node 0 dies (its link was cut, say) and a node comes back at the
  // same endpoint: node 1 must find it on its own, without a restart.
  local_swarm s{system, 2, swarm_options(8)};
  auto contacts = [&](const dht::node_actor& node) {
    caf::scoped_actor self{system};
    int64_t n = -1;
    self->request(node, std::chrono::seconds(10), stats_atom::value)
      .receive([&](dht::node_stats& st) { n = static_cast<int64_t>(st.contacts.size()); },
               [](caf::error&) {});
    return n;
  };
  CAF_REQUIRE_EQUAL(contacts(s.nodes[1]), 1);
  caf::anon_send_exit(s.nodes[0], caf::exit_reason::kill);
  CAF_REQUIRE(poll_until([&] { return contacts(s.nodes[1]) == 0; }, std::chrono::seconds(10)));
  node_setup setup;
  setup.name = "dht-0-again";
  setup.options = swarm_options(8);
  setup.directory = s.directory;
  auto again = spawn_node(system, std::move(setup));
  s.directory->put(local_swarm::endpoint(0), again);
  {
    caf::scoped_actor self{system};
    self->request(again, std::chrono::seconds(10), dht_start_atom::value, local_swarm::endpoint(0))
      .receive([](uint32_t) {}, [](caf::error&) {});
  }
  CAF_CHECK(poll_until([&] { return contacts(s.nodes[1]) == 1; }, std::chrono::seconds(20)));
  auto expiration = s.now() + 600;
  CAF_REQUIRE(dht::store(system, s.nodes[1], "after-rejoin", "", "v", expiration));
  auto got = dht::get(system, again, "after-rejoin");
  CAF_REQUIRE(got);
  CAF_CHECK_EQUAL(got->items.size(), 1u);
  caf::anon_send_exit(again, caf::exit_reason::user_shutdown);
}

CAF_TEST_FIXTURE_SCOPE_END()
