// The inspector actor (inspector.commands) on a real actor system: stand-in role actors answer
// stats, a 3-node in-process DHT holds expert declarations. Every command's answer is checked,
// as are the errors: unknown commands, bad arguments, missing roles, read-only refusal.
#define CAF_SUITE inspector.commands
#include <caf/test/unit_test.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/dht/local_swarm.hpp"
#include "actors/inspector/command_line.hpp"
#include "actors/inspector/inspector.hpp"
#include "messages/errors.hpp"
#include "messages/declaration.hpp"
#include "messages/expert_id.hpp"
#include "tests/inspector/stand_ins.hpp"

using namespace dmoe;

namespace {

constexpr auto answer_timeout = std::chrono::seconds(30);
constexpr size_t swarm_size = 3;

struct config : caf::actor_system_config {
  config() {
    register_types(*this);
    set("scheduler.max-threads", 2);
  }
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// contains(), naming the missing part in the test log.
bool has(const std::string& text, const std::string& part) {
  if (contains(text, part))
    return true;
  CAF_MESSAGE("missing: " << part);
  return false;
}

struct fixture {
  config cfg;
  caf::actor_system sys{cfg};
  dht::local_swarm swarm{sys, swarm_size, dht_options{}};
  server_stats_actor server =
    sys.spawn(test::stand_in<server_stats>, test::sample_server_stats());
  moe::router_stats_actor router =
    sys.spawn(test::stand_in<moe::router_stats>, test::sample_router_stats());
  trainer_stats_actor trainer =
    sys.spawn(test::stand_in<trainer_metrics>, test::sample_trainer_metrics());
  std::vector<caf::actor> spawned;

  fixture() {
    // Declarations as a server would write them: ffn.0.1 on one server, ffn.2.3 on two.
    // A 3-D grid "deep" checks that the walk descends as far as declarations go.
    using hosted = std::pair<std::vector<std::string>, std::string>;
    for (const auto& [ids, endpoint] : {hosted{{"ffn.0.1", "ffn.2.3"}, "127.0.0.1:5001"},
                                        hosted{{"ffn.2.3"}, "127.0.0.1:5002"},
                                        hosted{{"deep.1.0.7"}, "127.0.0.1:5003"}})
      for (const auto& e : declaration_entries(ids, endpoint))
        CAF_REQUIRE(dht::declare(sys, swarm.nodes[1], e.key, e.label, e.value, swarm.now() + 100));
  }

  ~fixture() {
    for (auto& a : spawned)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(trainer, caf::exit_reason::user_shutdown);
  }

  inspector_actor inspector(bool with_router, bool allow_control = false) {
    inspector_setup setup;
    setup.node_name = "test-node";
    setup.endpoint = "127.0.0.1:6000";
    setup.options.allow_control = allow_control;
    setup.dht = swarm.nodes[0];
    setup.server = server;
    if (with_router)
      setup.router = router;
    setup.trainer = trainer;
    auto insp = spawn_inspector(sys, std::move(setup));
    spawned.push_back(caf::actor_cast<caf::actor>(insp));
    return insp;
  }

  inspector_actor bare_inspector(inspector_setup setup) {
    auto insp = spawn_inspector(sys, std::move(setup));
    spawned.push_back(caf::actor_cast<caf::actor>(insp));
    return insp;
  }

  caf::expected<std::string> ask(const inspector_actor& who, const std::string& line) {
    caf::scoped_actor self{sys};
    caf::expected<std::string> out{make_error(errc::internal, "no answer")};
    self->request(who, answer_timeout, inspect_atom::value, line)
      .receive([&](std::string& text) { out = std::move(text); },
               [&](caf::error& err) { out = std::move(err); });
    auto shown = line.size() > 80 ? line.substr(0, 80) + "..." : line;
    if (out)
      CAF_MESSAGE("> " << shown << "\n" << *out);
    else
      CAF_MESSAGE("> " << shown << " -> " << describe(out.error()));
    return out;
  }

  std::string ok(const inspector_actor& who, const std::string& line) {
    auto out = ask(who, line);
    if (!out)
      CAF_FAIL("'" << line << "' failed: " << describe(out.error()));
    return *out;
  }

  // The command fails with `code` and a message containing `part`.
  void fails(const inspector_actor& who, const std::string& line, errc code,
             const std::string& part) {
    auto out = ask(who, line);
    CAF_REQUIRE(!out);
    CAF_CHECK_EQUAL(code_of(out.error()), code);
    CAF_CHECK(contains(describe(out.error()), part));
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(inspector_tests, fixture)

CAF_TEST(experts without a router merge server stats with the DHT declarations) {
  auto insp = inspector(false);
  auto text = ok(insp, "experts");
  CAF_CHECK(contains(text, "ID"));
  CAF_CHECK(contains(text, "LATENCY"));
  for (auto part : {"ffn.0.1", "ffn.2.3", "127.0.0.1:5001", "127.0.0.1:5002", "ffn.1.1",
                    "ffn.3.0", "7 req", "224 samples", "queue 2", "declared"})
    CAF_CHECK(has(text, part));
  // ffn.2.3 has two servers: one row each; 2 hosted + 3 declared rows.
  CAF_CHECK(contains(text, "5 expert(s)"));
  // A grid nobody declared has no experts, and the filter drops the server's ffn rows.
  auto none = ok(insp, "experts att");
  CAF_CHECK(contains(none, "no experts found"));
  fails(insp, "experts 3bad", errc::invalid_argument, "no grid name");
  auto deep = ok(insp, "experts deep");
  CAF_CHECK(contains(deep, "deep.1.0.7"));
  CAF_CHECK(contains(deep, "127.0.0.1:5003"));
  CAF_CHECK(contains(deep, "1 expert(s)"));
  auto both = ok(insp, "experts deep ffn");
  CAF_CHECK(contains(both, "6 expert(s)"));
}

CAF_TEST(experts with a router show calls latency failures and dead servers) {
  auto insp = inspector(true);
  auto text = ok(insp, "experts");
  for (auto part : {"ffn.1.1", "12 calls", "3.5 ms", "att.0.5", "127.0.0.1:7000", "21.2 ms",
                    "dead servers: 127.0.0.1:7001", "ffn.3.0"})
    CAF_CHECK(has(text, part));
  // ffn.1.1 is hosted here and called by the router: one merged row with both sides.
  CAF_CHECK(contains(text, "7 req, 224 samples, queue 2, 12 calls"));
  CAF_CHECK(contains(text, "3 expert(s)"));
  auto att = ok(insp, "experts att");
  CAF_CHECK(contains(att, "att.0.5"));
  CAF_CHECK(!contains(att, "ffn.1.1"));
}

CAF_TEST(nodes lists this node and its DHT contacts) {
  auto insp = inspector(false);
  auto text = ok(insp, "nodes");
  CAF_CHECK(contains(text, "this node: test-node at 127.0.0.1:6000"));
  CAF_CHECK(contains(text, "2 DHT contact(s)"));
  CAF_CHECK(contains(text, "inproc:1"));
  CAF_CHECK(contains(text, "inproc:2"));
  inspector_setup alone;
  alone.node_name = "lonely";
  CAF_CHECK(contains(ok(bare_inspector(alone), "nodes"), "lonely at (no endpoint) (no DHT role)"));
}

CAF_TEST(dht get shows the stored items) {
  auto insp = inspector(false);
  auto text = ok(insp, "dht get ffn.2.");
  CAF_CHECK(contains(text, "SUBKEY"));
  // One declaration per server: both list ffn.2.3, decoded for people, each signed.
  CAF_CHECK(has(text, "experts 3 at 127.0.0.1:5001"));
  CAF_CHECK(has(text, "experts 3 at 127.0.0.1:5002"));
  CAF_CHECK(has(text, "(signed)"));
  CAF_CHECK(has(text, "2 item(s) under 'ffn.2.'"));
  CAF_CHECK(has(ok(insp, "dht get ffn."), "prefixes 0,2 at 127.0.0.1:5001"));
  CAF_CHECK(contains(ok(insp, "dht get nothing.here"), "no unexpired items"));
  fails(insp, "dht get", errc::invalid_argument, "usage: dht get KEY");
  fails(insp, "dht get a b", errc::invalid_argument, "usage");
}

CAF_TEST(control commands are refused when read-only and work when allowed) {
  auto read_only = inspector(false);
  fails(read_only, "dht store shell.key sub value 60", errc::invalid_argument, "read-only");
  CAF_CHECK(contains(ok(read_only, "dht get shell.key"), "no unexpired items"));
  CAF_CHECK(contains(ok(read_only, "help"), "(disabled: read-only)"));
  auto control = inspector(false, true);
  auto stored = ok(control, "dht store shell.key \"a sub\" 'the value' 60");
  CAF_CHECK(contains(stored, "stored under 'shell.key'"));
  auto got = ok(read_only, "dht get shell.key");
  CAF_CHECK(contains(got, "a sub"));
  CAF_CHECK(contains(got, "the value"));
  fails(control, "dht store k s v -5", errc::invalid_argument, "positive number");
  fails(control, "dht store k s v soon", errc::invalid_argument, "positive number");
  fails(control, "dht store k s v", errc::invalid_argument, "usage");
  CAF_CHECK(!contains(ok(control, "help"), "disabled"));
}

CAF_TEST(unknown and malformed commands are errors and the inspector keeps serving) {
  auto insp = inspector(false);
  fails(insp, "launch rockets", errc::invalid_argument, "unknown command 'launch'");
  fails(insp, "", errc::invalid_argument, "empty command");
  fails(insp, "dht get \"open", errc::invalid_argument, "unclosed quote");
  fails(insp, "dht", errc::invalid_argument, "'dht' needs one of: get, store");
  fails(insp, std::string(5000, 'x'), errc::limit_exceeded, "exceeds");
  caf::scoped_actor self{sys};
  // Only an untyped handle can send what the protocol does not hold (a peer could).
  self->send(caf::actor_cast<caf::actor>(insp), std::string("not a command message"));
  CAF_CHECK(contains(ok(insp, "help"), "dht store KEY SUBKEY VALUE TTL_SECONDS"));
}

CAF_TEST(stats and trainers render every role) {
  auto insp = inspector(true);
  auto text = ok(insp, "stats");
  for (auto part : {"[inspector]", "control: read-only", "[dht]", "contacts:", "requests_served",
                    "[server]", "endpoint: 127.0.0.1:6000", "- ffn.1.1", "[router]",
                    "dead_servers:", "[trainer]", "loss: 0.4321"})
    CAF_CHECK(has(text, part));
  auto trainers = ok(insp, "trainers");
  CAF_CHECK(contains(trainers, "trainer on test-node"));
  // Progress figures come first, in a fixed order; other entries follow.
  auto step = trainers.find("step: 1200");
  auto accuracy = trainers.find("train_accuracy: 0.8456");
  auto epoch = trainers.find("epoch: 2");
  CAF_REQUIRE(step != std::string::npos && accuracy != std::string::npos
              && epoch != std::string::npos);
  CAF_CHECK(step < accuracy && accuracy < epoch);
  inspector_setup no_roles;
  auto bare = bare_inspector(no_roles);
  fails(bare, "trainers", errc::unavailable, "no trainer");
  fails(bare, "experts", errc::unavailable, "runs no server, router or DHT");
  fails(bare, "dht get x", errc::unavailable, "no DHT");
}

CAF_TEST(a role that does not answer times out without blocking the answer) {
  auto silent = sys.spawn(test::silent_role<moe::router_stats>);
  auto silent_trainer = sys.spawn(test::silent_role<trainer_metrics>);
  spawned.push_back(caf::actor_cast<caf::actor>(silent));
  spawned.push_back(caf::actor_cast<caf::actor>(silent_trainer));
  inspector_setup setup;
  setup.node_name = "slow";
  setup.server = server;
  setup.router = silent;
  setup.trainer = silent_trainer;
  setup.request_timeout = std::chrono::milliseconds(200);
  auto insp = bare_inspector(setup);
  auto text = ok(insp, "experts");
  CAF_CHECK(contains(text, "ffn.1.1"));
  CAF_CHECK(contains(text, "timeout: the router did not answer within 200 ms"));
  fails(insp, "trainers", errc::timeout, "the trainer did not answer within 200 ms");
  CAF_CHECK(contains(ok(insp, "stats"), "[router]\n  unavailable: timeout: the router did not"));
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(command lines split like a shell) {
  using words = std::vector<std::string>;
  auto split = [](const std::string& line) {
    auto out = inspector::split_words(line);
    CAF_REQUIRE(out);
    return *out;
  };
  CAF_CHECK_EQUAL(split("  dht   get\tffn. "), (words{"dht", "get", "ffn."}));
  CAF_CHECK_EQUAL(split("a \"b c\" 'd \"e' \"\" f\\ g"), (words{"a", "b c", "d \"e", "", "f g"}));
  CAF_CHECK_EQUAL(split(""), words{});
  CAF_CHECK(!inspector::split_words("trailing\\"));
  CAF_CHECK(!inspector::split_words("'open"));
  CAF_CHECK(!inspector::split_words(std::string(inspector::max_command_bytes + 1, 'a')));
  CAF_CHECK(inspector::split_words(std::string(inspector::max_command_bytes, 'a')));
}
