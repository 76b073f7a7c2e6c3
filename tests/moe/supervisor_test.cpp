// moe.supervisor: the router supervisor replaces a router that was killed, fails the calls the
// dead router held at once, gives up on restart storms and takes its router down with it.
#include <thread>

#include "tests/moe/moe_fixture.hpp"

using namespace dmoe;
using namespace dmoe::test;

namespace {

constexpr int64_t batch = 8;
constexpr auto poll_step = std::chrono::milliseconds(10);
constexpr int poll_limit = 500;  // x poll_step: 5 s

moe::router_actor child_of(caf::actor_system& system, const moe::supervisor_actor& supervisor) {
  caf::scoped_actor self{system};
  moe::router_actor out;
  self->request(supervisor, std::chrono::seconds(5), moe::moe_child_atom::value)
    .receive([&](moe::router_actor& child) { out = std::move(child); }, [](caf::error&) {});
  return out;
}

/// Waits (bounded) until the supervisor reports `n` restarts.
bool wait_restarts(moe_fixture& f, const moe::router_actor& supervisor, int64_t n) {
  for (int i = 0; i < poll_limit; ++i) {
    if (f.router_stats(supervisor).restarts == n)
      return true;
    std::this_thread::sleep_for(poll_step);
  }
  return false;
}

/// Waits (bounded) for the next down message and returns its reason (a timeout error when
/// none came).
caf::error await_down(caf::scoped_actor& self) {
  caf::error reason = make_error(errc::timeout, "no down message");
  self->receive([&](caf::down_msg& msg) { reason = msg.reason; },
                caf::after(std::chrono::seconds(5)) >> [] {});
  return reason;
}

/// A forward through a supervised router to a host that never answers, on its own thread.
struct held_forward {
  moe_fixture& f;
  moe::supervisor_actor supervisor;
  std::unique_ptr<RemoteMixtureOfExperts> layer;
  std::string message;
  errc code = errc::internal;
  bool returned = false;
  std::thread caller;

  explicit held_forward(moe_fixture& fixture) : f(fixture) {
    f.spawn_host("inproc-server:hung", f.experts, host_mode::stalls);
    f.declare(f.experts, "inproc-server:hung", f.swarm.now() + 600);
    auto opt = test_options();
    opt.timeout_after_k_min = opt.forward_timeout;
    supervisor = f.make_supervised_router(opt);
    layer = std::make_unique<RemoteMixtureOfExperts>(f.system, supervisor, features, features,
                                                     opt);
    caller = std::thread{[this] {
      try {
        torch::NoGradGuard no_grad;
        (*layer)->forward(torch::randn({batch, features}));
        returned = true;
      } catch (const moe_call_error& e) {
        message = e.what();
        code = code_of(e.error());
      }
    }};
  }

  ~held_forward() {
    if (caller.joinable())
      caller.join();
  }

  /// Waits (bounded) until the router holds the call.
  bool in_flight() {
    for (int i = 0; i < poll_limit; ++i) {
      if (!f.router_stats(supervisor).calls_in_flight.empty())
        return true;
      std::this_thread::sleep_for(poll_step);
    }
    return false;
  }
};

}  // namespace

#undef CAF_SUITE
#define CAF_SUITE moe.supervisor
CAF_TEST_FIXTURE_SCOPE(supervisor_tests, moe_fixture)

CAF_TEST(a killed router is replaced and the next forward succeeds) {
  spawn_host("inproc-server:all", experts);
  declare(experts, "inproc-server:all", swarm.now() + 600);
  auto opt = test_options();
  auto supervisor = make_supervised_router(opt);
  RemoteMixtureOfExperts layer{system, supervisor, features, features, opt};
  auto x = torch::randn({batch, features});
  torch::NoGradGuard no_grad;
  layer->forward(x);
  CAF_CHECK(layer->last_mask().all().item<bool>());
  CAF_CHECK_EQUAL(router_stats(supervisor).restarts, 0);
  auto first = child_of(system, supervisor);
  CAF_REQUIRE(first);
  kill_and_wait(first);
  CAF_REQUIRE(wait_restarts(*this, supervisor, 1));
  auto second = child_of(system, supervisor);
  CAF_REQUIRE(second);
  CAF_CHECK_NOT_EQUAL(first.id(), second.id());
  auto y = layer->forward(x);
  CAF_CHECK(layer->last_mask().all().item<bool>());
  CAF_CHECK_EQUAL(y.size(0), batch);
  auto stats = router_stats(supervisor);
  CAF_CHECK_EQUAL(stats.restarts, 1);
  CAF_CHECK_EQUAL(stats.router_id, static_cast<int64_t>(second.id()));
  CAF_CHECK(!stats.experts.empty());  // the new router's own stats come through
}

CAF_TEST(calls held by a crashing router fail at once) {
  held_forward held{*this};
  CAF_CHECK(held.in_flight());
  auto killed = std::chrono::steady_clock::now();
  caf::anon_send_exit(child_of(system, held.supervisor), caf::exit_reason::kill);
  held.caller.join();
  auto elapsed = ms_since(killed);
  CAF_MESSAGE("the held forward failed " << elapsed << " ms after the kill: " << held.message);
  CAF_CHECK(!held.returned);
  CAF_CHECK_EQUAL(held.code, errc::unavailable);
  CAF_CHECK(held.message.find("router crashed") != std::string::npos);
  CAF_CHECK_LESS(elapsed, 1000.0);  // forward_timeout is 5 s
  CAF_CHECK(wait_restarts(*this, held.supervisor, 1));
}

CAF_TEST(calls held by a supervisor told to stop fail at once) {
  held_forward held{*this};
  CAF_CHECK(held.in_flight());
  // What a node does when it shuts down: its trainer's call must not wait out forward_timeout.
  auto stopped = std::chrono::steady_clock::now();
  caf::anon_send_exit(held.supervisor, caf::exit_reason::user_shutdown);
  held.caller.join();
  auto elapsed = ms_since(stopped);
  CAF_MESSAGE("the held forward failed " << elapsed << " ms after the stop: " << held.message);
  CAF_CHECK(!held.returned);
  CAF_CHECK_EQUAL(held.code, errc::unavailable);
  CAF_CHECK(held.message.find("router stopped") != std::string::npos);
  CAF_CHECK_LESS(elapsed, 1000.0);  // forward_timeout is 5 s
}

CAF_TEST(a restart storm ends the supervisor with the router error) {
  auto opt = test_options();
  auto supervisor = make_supervised_router(opt, moe::restart_policy{2, std::chrono::minutes(1)});
  caf::scoped_actor self{system};
  self->monitor(supervisor);
  for (int64_t n = 1; n <= 2; ++n) {
    kill_and_wait(child_of(system, supervisor));
    CAF_REQUIRE(wait_restarts(*this, supervisor, n));
  }
  caf::anon_send_exit(child_of(system, supervisor), caf::exit_reason::kill);
  auto reason = await_down(self);
  CAF_CHECK_EQUAL(reason, caf::error{caf::exit_reason::kill});
  // Its users see an error at once, not a hang.
  RemoteMixtureOfExperts layer{system, supervisor, features, features, opt};
  auto started = std::chrono::steady_clock::now();
  bool failed = false;
  try {
    torch::NoGradGuard no_grad;
    layer->forward(torch::randn({batch, features}));
  } catch (const moe_call_error& e) {
    failed = true;
    CAF_MESSAGE("forward through the ended supervisor: " << e.what());
  }
  CAF_CHECK(failed);
  CAF_CHECK_LESS(ms_since(started), 1000.0);
}

CAF_TEST(the supervisor and its router stop together) {
  auto opt = test_options();
  caf::scoped_actor self{system};
  // Stopping the supervisor stops the router.
  auto supervisor = make_supervised_router(opt);
  auto child = child_of(system, supervisor);
  CAF_REQUIRE(child);
  self->monitor(child);
  caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
  CAF_CHECK_EQUAL(await_down(self), caf::error{caf::exit_reason::user_shutdown});
  // A router that stops in an orderly way is not restarted: the supervisor stops with it.
  auto other = make_supervised_router(opt);
  self->monitor(other);
  caf::anon_send_exit(child_of(system, other), caf::exit_reason::user_shutdown);
  CAF_CHECK_EQUAL(await_down(self), caf::error{caf::exit_reason::user_shutdown});
}

CAF_TEST_FIXTURE_SCOPE_END()
