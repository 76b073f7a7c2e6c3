// moe.faults: the layer around failures, in one process (real actor system, in-process DHT).
#include <atomic>
#include <thread>

#include <caf/typed_event_based_actor.hpp>

#include "tests/moe/moe_fixture.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;
using std::chrono::steady_clock;

namespace {

constexpr int64_t batch = 8;

bool intersects(const std::set<std::string>& a, const std::set<std::string>& b) {
  for (const auto& x : a)
    if (b.count(x) > 0)
      return true;
  return false;
}

/// Stands in for the router's DHT node: never answers the first get it receives (a lookup
/// lost on the way), passes every later one to the real node. `lost_key_gets` counts the gets
/// of the key whose first lookup was lost.
struct lost_lookup {
  std::atomic<int> lost_key_gets{0};
  std::string lost_key;  // written by the actor before the count first rises
};

dht::router_dht_actor::behavior_type first_get_lost(dht::router_dht_actor::pointer self,
                                                    dht::router_dht_actor real,
                                                    std::shared_ptr<lost_lookup> seen) {
  using lookup_reply = caf::typed_response_promise<payload, uint32_t, uint32_t>;
  auto held = std::make_shared<std::vector<lookup_reply>>();
  return {
    [=](dht::dht_get_atom atom, std::string& key) -> caf::result<payload, uint32_t, uint32_t> {
      if (held->empty()) {
        seen->lost_key = key;
        ++seen->lost_key_gets;
        held->push_back(self->make_response_promise<payload, uint32_t, uint32_t>());
        return held->back();
      }
      if (key == seen->lost_key)
        ++seen->lost_key_gets;
      return self->delegate(real, atom, std::move(key));
    },
    [=](dht::dht_prove_atom atom, std::string& endpoint, std::string& owner) {
      return self->delegate(real, atom, std::move(endpoint), std::move(owner));
    },
  };
}

}  // namespace

#undef CAF_SUITE
#define CAF_SUITE moe.faults
CAF_TEST_FIXTURE_SCOPE(fault_tests, moe_fixture)

CAF_TEST(expired declarations are never called even from the cache) {
  auto opt = test_options();
  opt.directory_cache = std::chrono::seconds(60);  // the cache, not the DHT, must drop them
  auto router = make_router(opt);
  torch::manual_seed(3);
  RemoteMixtureOfExperts layer{system, router, features, features, opt};
  auto x = torch::randn({batch, features});
  auto short_lived = top_ids(all_scores(layer, x), 0, 4);  // sample 0's favourites
  auto now = swarm.now();
  auto a = spawn_host("inproc-server:short", pick(short_lived));
  auto b = spawn_host("inproc-server:long", all_but(short_lived));
  declare(pick(short_lived), "inproc-server:short", now + 5);
  declare(all_but(short_lived), "inproc-server:long", now + 600);
  torch::NoGradGuard no_grad;
  layer->forward(x);
  CAF_REQUIRE(intersects(answered_ids(layer), short_lived));
  auto calls_before = a->forwards.load();
  CAF_CHECK_GREATER(calls_before, 0);
  *swarm.clock_offset = 10;  // the short declarations have expired
  layer->forward(x);
  CAF_CHECK_EQUAL(a->forwards.load(), calls_before);
  CAF_CHECK(!intersects(answered_ids(layer), short_lived));
  CAF_CHECK(layer->last_mask().all().item<bool>());
  CAF_CHECK_GREATER(b->forwards.load(), 0);
}

CAF_TEST(fewer than k_min live experts is a clear error at once) {
  auto opt = test_options();
  opt.k_min = 2;
  spawn_host("inproc-server:lonely", pick({"ffn.1.2"}));
  declare(pick({"ffn.1.2"}), "inproc-server:lonely", swarm.now() + 600);
  auto router = make_router(opt);
  RemoteMixtureOfExperts layer{system, router, features, features, opt};
  auto started = std::chrono::steady_clock::now();
  std::string message;
  try {
    torch::NoGradGuard no_grad;
    layer->forward(torch::randn({batch, features}));
  } catch (const moe_call_error& e) {
    message = e.what();
    CAF_CHECK_EQUAL(code_of(e.error()), errc::unavailable);
  }
  auto elapsed = ms_since(started);
  CAF_MESSAGE("error after " << elapsed << " ms: " << message);
  CAF_CHECK(message.find("k_min=2") != std::string::npos);
  CAF_CHECK_LESS(elapsed, 1000.0);
}

CAF_TEST(all experts dead is a clear error at once or zeros when allowed) {
  auto victim_counters = spawn_host("inproc-server:doomed", experts);
  auto victim = hosts.back();
  declare(experts, "inproc-server:doomed", swarm.now() + 600);
  kill_and_wait(victim);
  auto opt = test_options();
  auto router = make_router(opt);
  RemoteMixtureOfExperts layer{system, router, features, features, opt};
  auto x = torch::randn({batch, features}).requires_grad_(true);
  auto started = std::chrono::steady_clock::now();
  bool failed = false;
  try {
    layer->forward(x);
  } catch (const moe_call_error& e) {
    failed = true;
    CAF_MESSAGE("error after " << ms_since(started) << " ms: " << e.what());
  }
  CAF_CHECK(failed);
  CAF_CHECK_LESS(ms_since(started), 1000.0);
  opt.allow_zero_outputs = true;
  RemoteMixtureOfExperts lenient{system, make_router(opt), features, features, opt};
  started = std::chrono::steady_clock::now();
  auto y = lenient->forward(x);
  CAF_CHECK_LESS(ms_since(started), 1000.0);
  CAF_CHECK_EQUAL(y.abs().sum().item<double>(), 0.0);
  CAF_CHECK(!lenient->last_mask().any().item<bool>());
  CAF_CHECK_EQUAL(lenient->report().samples_below_k_min, static_cast<size_t>(batch));
  y.sum().backward();
  CAF_REQUIRE(x.grad().defined());
  CAF_CHECK_EQUAL(x.grad().abs().sum().item<double>(), 0.0);
  CAF_CHECK_EQUAL(victim_counters->forwards.load(), 0);
}

CAF_TEST(a server dying mid forward is routed around at once with renormalised weights) {
  auto opt = test_options();
  opt.directory_cache = std::chrono::milliseconds(500);
  auto router = make_router(opt);
  torch::manual_seed(5);
  RemoteMixtureOfExperts layer{system, router, features, features, opt};
  auto x = torch::randn({batch, features}).requires_grad_(true);
  auto doomed = top_ids(all_scores(layer, x.detach()), 0, 4);  // certainly called
  auto now = swarm.now();
  auto dying = spawn_host("inproc-server:dying", pick(doomed), host_mode::dies);
  auto healthy = spawn_host("inproc-server:healthy", all_but(doomed));
  declare(pick(doomed), "inproc-server:dying", now + 20);
  declare(all_but(doomed), "inproc-server:healthy", now + 600);
  auto started = std::chrono::steady_clock::now();
  auto y = layer->forward(x);
  auto elapsed = ms_since(started);
  auto report = layer->report();
  CAF_MESSAGE("forward took " << elapsed << " ms, " << report.forward.calls << " calls, "
                              << report.forward.rerouted << " slots rerouted");
  CAF_CHECK_LESS(elapsed, 1000.0);  // forward_timeout is 5 s
  CAF_CHECK_GREATER(report.forward.rerouted, 0u);
  CAF_CHECK(layer->last_mask().all().item<bool>());
  CAF_CHECK(!intersects(answered_ids(layer), doomed));
  auto gates = gate_copies(layer);
  auto x_ref = x.detach().clone().requires_grad_(true);
  auto y_ref = local_mixture(x_ref, gates, layer->last_coords(), layer->last_mask(), experts);
  CAF_CHECK_LESS(max_abs_diff(y, y_ref), 1e-5);
  auto target = torch::randn({batch, features});
  (y * target).sum().backward();
  (y_ref * target).sum().backward();
  CAF_CHECK_LESS(max_abs_diff(x.grad(), x_ref.grad()), 1e-5);
  auto dead = router_stats(router).dead_servers;
  CAF_REQUIRE_EQUAL(dead.size(), 1u);
  CAF_CHECK_EQUAL(dead.front(), "inproc-server:dying");
  // A replacement at the same endpoint is avoided until it declares again, then used.
  auto revived = spawn_host("inproc-server:dying", pick(doomed));
  *swarm.clock_offset = 1;  // past directory_cache: the router looks the prefixes up again
  {
    torch::NoGradGuard no_grad;
    layer->forward(x);
  }
  CAF_CHECK_EQUAL(revived->forwards.load(), 0);
  declare(pick(doomed), "inproc-server:dying", swarm.now() + 600);
  *swarm.clock_offset = 2;
  // A stale entry is served while its key is looked up again, so the declaration shows up
  // within a forward or two.
  for (int attempt = 0; attempt < 20 && revived->forwards.load() == 0; ++attempt) {
    torch::NoGradGuard no_grad;
    layer->forward(x);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CAF_CHECK_GREATER(revived->forwards.load(), 0);
  CAF_CHECK(intersects(answered_ids(layer), doomed));
  CAF_CHECK_GREATER(healthy->forwards.load(), 0);
  (void) dying;
}

CAF_TEST(malformed expert answers count as failures and are routed around) {
  auto opt = test_options();
  auto router = make_router(opt);
  torch::manual_seed(9);
  RemoteMixtureOfExperts layer{system, router, features, features, opt};
  auto x = torch::randn({batch, features});
  auto broken = top_ids(all_scores(layer, x), 0, 4);
  auto now = swarm.now();
  auto bad = spawn_host("inproc-server:bad", pick(broken), host_mode::misbehaves);
  spawn_host("inproc-server:good", all_but(broken));
  declare(pick(broken), "inproc-server:bad", now + 600);
  declare(all_but(broken), "inproc-server:good", now + 600);
  torch::NoGradGuard no_grad;
  layer->forward(x);
  CAF_CHECK_GREATER(bad->forwards.load(), 0);
  CAF_CHECK(layer->last_mask().all().item<bool>());
  CAF_CHECK(!intersects(answered_ids(layer), broken));
  int64_t failures = 0;
  for (const auto& e : router_stats(router).experts)
    if (e.server == "inproc-server:bad")
      failures += e.failures;
  CAF_CHECK_EQUAL(failures, static_cast<int64_t>(bad->forwards.load()));
}

CAF_TEST(a job waiting on a lookup that fails for an earlier job looks the key up again) {
  spawn_host("inproc-server:all", experts);
  declare(experts, "inproc-server:all", swarm.now() + 600);
  auto opt = test_options();
  opt.forward_timeout = std::chrono::seconds(2);
  opt.timeout_after_k_min = std::chrono::milliseconds(200);
  moe::router_setup setup;
  setup.options = opt;
  auto seen = std::make_shared<lost_lookup>();
  setup.dht = system.spawn(first_get_lost, swarm.nodes[1], seen);
  hosts.push_back(caf::actor_cast<caf::actor>(setup.dht));  // the fixture stops it
  setup.directory = swarm.directory;
  routers.push_back(moe::spawn_router(system, std::move(setup)));
  RemoteMixtureOfExperts first{system, routers.back(), features, features, opt};
  RemoteMixtureOfExperts second{system, routers.back(), features, features, opt};
  auto x = torch::randn({batch, features});
  bool first_failed = false;
  auto first_started = steady_clock::now();
  std::thread earlier{[&] {
    try {
      torch::NoGradGuard no_grad;
      first->forward(x);
    } catch (const moe_call_error&) {
      first_failed = true;  // its lookup of the grid's first key never came back
    }
  }};
  // The second job starts once the first one's lookup is under way (and lost), so it waits on
  // that same lookup: the router sends one lookup per key at a time. It starts a second later,
  // so it still has a second left when that lookup fails (at forward-timeout, 2 s).
  CAF_REQUIRE(poll_until([&] { return seen->lost_key_gets.load() == 1; }, std::chrono::seconds(1),
                         std::chrono::milliseconds(5)));
  std::this_thread::sleep_until(first_started + std::chrono::seconds(1));
  bool second_failed = false;
  try {
    torch::NoGradGuard no_grad;
    second->forward(x);
  } catch (const moe_call_error& e) {
    second_failed = true;
    CAF_MESSAGE("the later job failed: " << e.what());
  }
  earlier.join();
  // The lookup failed at 2 s; the second job, with time left, looked the key up once more.
  CAF_CHECK_EQUAL(seen->lost_key_gets.load(), 2);
  CAF_CHECK(first_failed);
  CAF_CHECK(!second_failed);
  if (!second_failed)
    CAF_CHECK(second->last_mask().all().item<bool>());
}

CAF_TEST(another actor cannot end a router job with its timer messages) {
  // Once a router has made a call in parts it receives messages from the network; its timers
  // (moe_dead, moe_settle) must come from itself. Every expert stalls, so the forward can only
  // end at forward_timeout; a foreign actor meanwhile sends both timers for job ids 1..64.
  auto opt = test_options();
  opt.forward_timeout = std::chrono::seconds(2);
  spawn_host("inproc-server:stalls", experts, host_mode::stalls);
  declare(experts, "inproc-server:stalls", swarm.now() + 600);
  auto router = make_router(opt);
  RemoteMixtureOfExperts layer{system, router, features, features, opt};
  std::atomic<bool> forwarding{true};
  std::thread attacker{[&] {
    auto target = caf::actor_cast<caf::actor>(router);
    caf::scoped_actor intruder{system};
    while (forwarding) {
      for (uint64_t id = 1; id <= 64; ++id) {
        intruder->send(target, moe::moe_deadline_atom::value, id);
        intruder->send(target, moe::moe_settle_atom::value, id);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }};
  auto started = std::chrono::steady_clock::now();
  try {
    torch::NoGradGuard no_grad;
    layer->forward(torch::randn({batch, features}));
  } catch (const moe_call_error&) {
    // every expert stalled: the forward fails at its timeout
  }
  auto elapsed = ms_since(started);
  forwarding = false;
  attacker.join();
  CAF_MESSAGE("the forward ended after " << elapsed << " ms (forward_timeout 2000 ms)");
  CAF_CHECK_GREATER(elapsed, 1800.0);
}

CAF_TEST_FIXTURE_SCOPE_END()
