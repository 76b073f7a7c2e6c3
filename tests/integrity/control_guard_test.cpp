// The handlers of actors/guard/control_guard.hpp, reached over a plain CAF connection (no wire
// guard in front, as a test or a tool that publishes with CAF's own publish has): exit and
// error messages from another node are ignored, a forged down message too; local ones act.
// (An exit message with reason kill is not among them: CAF makes any actor quit on it, so only
// the wire guard keeps it off; see integrity.remote_control.)
#define CAF_SUITE integrity.control_guard
#include <caf/test/unit_test.hpp>

#include <atomic>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/guard/control_guard.hpp"
#include "messages/type_ids.hpp"
#include "runtime/logging.hpp"
#include "runtime/node_config.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;

namespace {

constexpr auto reply_timeout = std::chrono::seconds(5);

struct counters {
  std::atomic<int> genuine_downs{0};
};

/// Answers get_atom with 42 and counts the down messages it believes; monitors what it is sent.
caf::behavior guarded(caf::event_based_actor* self, std::shared_ptr<counters> seen) {
  auto log = log::get("guarded");
  guard_control(self, log);
  self->set_down_handler([self, seen, log](caf::down_msg& msg) {
    if (genuine_down(self, msg, *log))
      ++seen->genuine_downs;
  });
  return {
    [](caf::get_atom) { return 42; },
    [self](caf::monitor_atom, caf::actor& other) { self->monitor(other); },
  };
}

struct two_nodes {
  node_config cfg_a;
  node_config cfg_b;
  std::unique_ptr<caf::actor_system> a;
  std::unique_ptr<caf::actor_system> b;
  std::shared_ptr<counters> seen = std::make_shared<counters>();
  caf::actor target;  // on a
  caf::actor remote;  // the same actor, as b sees it

  two_nodes() {
    CAF_REQUIRE(!cfg_a.parse_and_validate(std::vector<std::string>{}));
    CAF_REQUIRE(!cfg_b.parse_and_validate(std::vector<std::string>{}));
    a = std::make_unique<caf::actor_system>(cfg_a);
    b = std::make_unique<caf::actor_system>(cfg_b);
    target = a->spawn(guarded, seen);
    auto port = a->middleman().publish(target, 0, "127.0.0.1", true);
    CAF_REQUIRE(port);
    auto handle = b->middleman().remote_actor("127.0.0.1", *port);
    CAF_REQUIRE(handle);
    remote = *handle;
  }

  ~two_nodes() {
    caf::anon_send_exit(target, caf::exit_reason::user_shutdown);
  }

  bool answers(caf::actor_system& from, const caf::actor& whom) {
    caf::scoped_actor self{from};
    bool ok = false;
    self->request(whom, reply_timeout, caf::get_atom::value)
      .receive([&](int x) { ok = x == 42; }, [&](caf::error&) {});
    return ok;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(control_guard_tests, two_nodes)

CAF_TEST(exit and error messages from another node are ignored) {
  CAF_REQUIRE(answers(*b, remote));
  caf::scoped_actor attacker{*b};
  attacker->send_exit(remote, caf::exit_reason::user_shutdown);
  attacker->send(remote, caf::exit_msg{remote.address(), caf::exit_reason::user_shutdown});
  attacker->send(remote, caf::make_error(caf::sec::runtime_error));
  caf::anon_send(remote, caf::make_error(caf::sec::runtime_error));
  CAF_CHECK(answers(*b, remote));
  CAF_CHECK(answers(*a, target));
}

CAF_TEST(a down message is believed only from the actor it reports on) {
  caf::scoped_actor attacker{*b};
  // Claims that `target` itself went down.
  attacker->send(remote, caf::down_msg{remote.address(), caf::exit_reason::kill});
  CAF_CHECK(answers(*b, remote));
  CAF_CHECK_EQUAL(seen->genuine_downs.load(), 0);
  // A local actor the target monitors really stops.
  auto watched = a->spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](caf::ok_atom) {}};
  });
  caf::anon_send(target, caf::monitor_atom::value, watched);
  CAF_REQUIRE(answers(*a, target));  // the monitor is in place
  caf::anon_send_exit(watched, caf::exit_reason::user_shutdown);
  CAF_CHECK(test::poll_until([&] { return seen->genuine_downs.load() == 1; },
                             std::chrono::seconds(5)));
}

CAF_TEST(local exit messages still stop the actor) {
  caf::scoped_actor self{*a};
  self->monitor(target);
  self->send_exit(target, caf::exit_reason::user_shutdown);
  bool down = false;
  self->receive([&](caf::down_msg& msg) { down = msg.source == target.address(); },
                caf::after(reply_timeout) >> [] {});
  CAF_CHECK(down);
}

CAF_TEST_FIXTURE_SCOPE_END()
