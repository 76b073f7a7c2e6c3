// The server actor on a threaded actor system (server.actor): replies equal a local twin of
// each expert, concurrent callers share batches, bad requests get error replies while the
// server keeps serving, and (server.restart) checkpoints survive a re-spawned server.
#define CAF_SUITE server.actor
#include <caf/test/unit_test.hpp>

#include <limits>
#include <thread>

#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include "runtime/logging.hpp"
#include "runtime/node_config.hpp"
#include "tests/server/server_test_util.hpp"

using namespace dmoe;
using namespace dmoe::test;

namespace {

constexpr int64_t h = small_hidden;

struct fixture {
  node_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::vector<server_actor> servers;

  fixture() {
    log::setup("warn");
    cfg.set("scheduler.max-threads", 2);
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  ~fixture() {
    for (auto& s : servers)
      caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  }

  server_actor spawn(server_options o) {
    server_setup setup;
    setup.name = server_name;
    setup.options = std::move(o);
    auto server = try_spawn_server(*sys, std::move(setup));
    CAF_REQUIRE(server);
    servers.push_back(*server);
    return *server;
  }
};

expert_reply forward(caf::actor_system& sys, const server_actor& s, const std::string& id,
                     torch::Tensor x) {
  return call(sys, s, forward_call{id, {std::move(x)}});
}

expert_reply backward(caf::actor_system& sys, const server_actor& s, const std::string& id,
                      torch::Tensor x, torch::Tensor g) {
  return call(sys, s, backward_call{id, {std::move(x)}, {std::move(g)}});
}

torch::Tensor local_forward(expert_backend& b, const torch::Tensor& x) {
  return (*b.forward({x}))[0];
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(server_actor_tests, fixture)

CAF_TEST(forward backward and info equal plain training with activations kept or recomputed) {
  for (size_t memory_mb : {1024, 0}) {
    auto options = small_options();
    options.activation_memory_mb = memory_mb;
    auto server = spawn(options);
    torch::manual_seed(1);
    for (auto id : {"ffn.0.0", "ffn.1.1"}) {
      auto plain = plain_twin(options, id);
      auto x = torch::randn({5, h});
      auto y = tensors_of(forward(*sys, server, id, x));
      CAF_REQUIRE_EQUAL(y.size(), 1u);
      CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(y[0], plain.module->forward({x})[0]), 1e-5);
      // backward: input gradients equal, and the server's weights moved like plain training's
      auto g = torch::randn({5, h});
      auto dx = tensors_of(backward(*sys, server, id, x, g));
      CAF_REQUIRE_EQUAL(dx.size(), 1u);
      CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(dx[0], plain.step(x, g)), 1e-5);
      auto probe = torch::randn({3, h});
      auto after = tensors_of(forward(*sys, server, id, probe));
      CAF_REQUIRE_EQUAL(after.size(), 1u);
      CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(after[0], plain.module->forward({probe})[0]), 1e-5);
      CAF_CHECK_GREATER(max_abs_diff(after[0], local_forward(*local_twin(options, id), probe)), 1e-4);
    }
    auto e = expert_stats(stats(*sys, server), "ffn.0.0");
    CAF_CHECK_EQUAL(e.activations_used, memory_mb > 0 ? 1 : 0);
    CAF_CHECK_EQUAL(e.recomputed, memory_mb > 0 ? 0 : 1);
    CAF_CHECK_EQUAL(e.activations_kept, memory_mb > 0 ? 2 : 0);
    if (memory_mb > 0)
      CAF_CHECK_GREATER(e.activation_bytes, 0);  // the probe's, never used
  }
  auto options = small_options();
  auto server = spawn(options);
  torch::manual_seed(1);
  for (auto id : {"ffn.0.0", "ffn.1.1"}) {
    auto x = torch::randn({5, h});
    CAF_REQUIRE_EQUAL(tensors_of(forward(*sys, server, id, x)).size(), 1u);
    CAF_REQUIRE_EQUAL(tensors_of(backward(*sys, server, id, x, torch::randn({5, h}))).size(), 1u);
    CAF_REQUIRE_EQUAL(tensors_of(forward(*sys, server, id, torch::randn({3, h}))).size(), 1u);
  }
  auto info = call(*sys, server, info_call{"ffn.0.1"});
  auto* i = std::get_if<expert_info>(&info);
  CAF_REQUIRE(i != nullptr);
  CAF_CHECK_EQUAL(i->expert_type, "ffn");
  CAF_CHECK_EQUAL(i->inputs[0].shape, (std::vector<int64_t>{-1, h}));
  auto s = stats(*sys, server);
  CAF_CHECK_EQUAL(expert_stats(s, "ffn.0.0").updates, 1);
  CAF_CHECK_EQUAL(expert_stats(s, "ffn.0.0").requests, 3);
  CAF_CHECK_EQUAL(expert_stats(s, "ffn.0.1").updates, 0);
  CAF_CHECK_EQUAL(expert_stats(s, "ffn.1.0").samples, 0);
}

CAF_TEST(three concurrent callers share one forward batch and one backward batch) {
  auto options = small_options();
  // The batch starts only when full: three calls of 4 samples, however they interleave.
  options.max_batch_size = 12;
  options.max_batch_wait = std::chrono::seconds(20);
  options.adaptive_wait = false;
  auto server = spawn(options);
  auto twin = local_twin(options, "ffn.1.0");
  torch::manual_seed(2);
  std::vector<torch::Tensor> xs, gs;
  for (int c = 0; c < 3; ++c) {
    xs.push_back(torch::randn({4, h}));
    gs.push_back(torch::randn({4, h}));
  }
  auto run_callers = [&](bool is_backward) {
    std::vector<expert_reply> replies(3, expert_reply{make_error(errc::timeout, "none")});
    std::vector<std::thread> callers;
    for (int c = 0; c < 3; ++c)
      callers.emplace_back([&, c] {
        replies[c] = is_backward ? backward(*sys, server, "ffn.1.0", xs[c], gs[c])
                                 : forward(*sys, server, "ffn.1.0", xs[c]);
      });
    for (auto& t : callers)
      t.join();
    return replies;
  };
  auto forwards = run_callers(false);
  for (int c = 0; c < 3; ++c) {
    auto y = tensors_of(forwards[c]);
    CAF_REQUIRE_EQUAL(y.size(), 1u);
    CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(y[0], local_forward(*twin, xs[c])), 1e-5);
  }
  auto s = stats(*sys, server);
  auto e = expert_stats(s, "ffn.1.0");
  CAF_CHECK_EQUAL(e.requests, 3);
  CAF_CHECK_EQUAL(e.batches, 1);
  CAF_CHECK_EQUAL(e.samples, 12);
  CAF_CHECK_EQUAL(e.max_merged_callers, 3);
  CAF_CHECK_EQUAL(e.queue, 0);
  // Backward: one merged batch is one optimizer step on the summed gradients of all callers.
  auto backwards = run_callers(true);
  auto local_dx = twin->backward({torch::cat(xs)}, {torch::cat(gs)});
  CAF_REQUIRE(local_dx);
  for (int c = 0; c < 3; ++c) {
    auto dx = tensors_of(backwards[c]);
    CAF_REQUIRE_EQUAL(dx.size(), 1u);
    CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(dx[0], (*local_dx)[0].narrow(0, 4 * c, 4)), 1e-5);
  }
  e = expert_stats(stats(*sys, server), "ffn.1.0");
  CAF_CHECK_EQUAL(e.batches, 2);
  CAF_CHECK_EQUAL(e.updates, 1);
  CAF_CHECK_EQUAL(e.max_merged_callers, 3);
}

CAF_TEST(every kind of bad request gets an error reply and the server keeps serving) {
  auto options = small_options();
  options.max_batch_size = 8;
  auto server = spawn(options);
  auto ok = torch::randn({2, h});
  auto nan = torch::randn({2, h});
  nan[0][0] = std::numeric_limits<float>::quiet_NaN();
  std::vector<torch::Tensor> too_many(17, ok);
  auto truncated = encode(expert_call{forward_call{"ffn.0.0", {ok}}});
  truncated.bytes.resize(truncated.bytes.size() / 2);
  struct bad_case {
    const char* what;
    payload request;
    const char* code;
  };
  std::vector<bad_case> cases{
    {"garbage bytes", payload{std::vector<char>(13, 'x')}, "malformed"},
    {"truncated message", truncated, "malformed"},
    {"invalid id", encode(expert_call{forward_call{"ffn", {ok}}}), "invalid_argument"},
    {"unknown expert", encode(expert_call{forward_call{"ffn.7.7", {ok}}}), "unknown_expert"},
    {"unknown expert info", encode(expert_call{info_call{"moe.0.0"}}), "unknown_expert"},
    {"float64 input", encode(expert_call{forward_call{"ffn.0.0", {ok.to(torch::kFloat64)}}}),
     "dtype_mismatch"},
    {"int input", encode(expert_call{forward_call{"ffn.0.0", {torch::ones({2, h}, torch::kInt32)}}}),
     "dtype_mismatch"},
    {"wrong hidden size", encode(expert_call{forward_call{"ffn.0.0", {torch::randn({2, h + 1})}}}),
     "shape_mismatch"},
    {"no batch dimension", encode(expert_call{forward_call{"ffn.0.0", {torch::randn({h})}}}),
     "shape_mismatch"},
    {"two inputs", encode(expert_call{forward_call{"ffn.0.0", {ok, ok}}}), "shape_mismatch"},
    {"no inputs", encode(expert_call{forward_call{"ffn.0.0", {}}}), "shape_mismatch"},
    {"empty batch", encode(expert_call{forward_call{"ffn.0.0", {torch::randn({0, h})}}}),
     "invalid_argument"},
    {"batch over the limit", encode(expert_call{forward_call{"ffn.0.0", {torch::randn({9, h})}}}),
     "limit_exceeded"},
    {"too many tensors", encode(expert_call{forward_call{"ffn.0.0", too_many}}), "limit_exceeded"},
    {"NaN input", encode(expert_call{forward_call{"ffn.0.0", {nan}}}), "non_finite"},
    {"gradient batch mismatch",
     encode(expert_call{backward_call{"ffn.0.0", {ok}, {torch::randn({3, h})}}}), "shape_mismatch"},
    {"gradient hidden mismatch",
     encode(expert_call{backward_call{"ffn.0.0", {ok}, {torch::randn({2, 3})}}}), "shape_mismatch"},
    {"missing gradient", encode(expert_call{backward_call{"ffn.0.0", {ok}, {}}}), "shape_mismatch"},
    {"NaN gradient", encode(expert_call{backward_call{"ffn.0.0", {ok}, {nan}}}), "non_finite"},
  };
  auto twin = local_twin(options, "ffn.0.0");
  for (auto& c : cases) {
    CAF_MESSAGE(c.what);
    auto reply = call_raw(*sys, server, c.request);
    CAF_CHECK_EQUAL(outcome(reply), c.code);
    if (auto* err = std::get_if<caf::error>(&reply))
      CAF_CHECK(!describe(*err).empty());
    // still serving, with unchanged weights
    auto y = tensors_of(forward(*sys, server, "ffn.0.0", ok));
    CAF_REQUIRE_EQUAL(y.size(), 1u);
    CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(y[0], local_forward(*twin, ok)), 1e-5);
  }
  auto s = stats(*sys, server);
  auto e = expert_stats(s, "ffn.0.0");
  CAF_CHECK_EQUAL(e.updates, 0);
  CAF_CHECK_EQUAL(e.errors, 11);  // the ones that decoded and named ffn.0.0
  CAF_CHECK_EQUAL(s.rejected, 8);  // undecodable (incl. NaN, too many tensors) or unknown expert
}

CAF_TEST(fail_rate answers that share of forward and backward calls with an error) {
  auto options = small_options();
  options.fail_rate = 1.0;
  auto always = spawn(options);
  options.fail_rate = 0.3;
  auto sometimes = spawn(options);
  torch::manual_seed(3);
  auto x = torch::randn({2, h});
  auto g = torch::randn({2, h});
  auto failed = forward(*sys, always, "ffn.0.0", x);
  CAF_REQUIRE_EQUAL(outcome(failed), "unavailable");
  CAF_CHECK_NOT_EQUAL(describe(std::get<caf::error>(failed)).find("injected failure"),
                      std::string::npos);
  CAF_CHECK_EQUAL(outcome(backward(*sys, always, "ffn.0.0", x, g)), "unavailable");
  // info calls and bad requests are not counted as injected
  CAF_CHECK_EQUAL(outcome(call(*sys, always, info_call{"ffn.0.0"})), "ok");
  CAF_CHECK_EQUAL(outcome(forward(*sys, always, "ffn.9.9", x)), "unknown_expert");
  CAF_CHECK_EQUAL(stats(*sys, always).injected_failures, 2);
  CAF_CHECK_EQUAL(expert_stats(stats(*sys, always), "ffn.0.0").updates, 0);
  constexpr int calls = 200;
  int forward_errors = 0;
  int backward_errors = 0;
  for (int i = 0; i < calls / 2; ++i) {
    forward_errors += outcome(forward(*sys, sometimes, "ffn.1.0", x)) != "ok";
    backward_errors += outcome(backward(*sys, sometimes, "ffn.1.0", x, g)) != "ok";
  }
  auto errors = forward_errors + backward_errors;
  CAF_MESSAGE(errors << " of " << calls << " calls failed at fail_rate 0.3");
  CAF_CHECK_GREATER(errors, 30);   // ~60 expected; 30 and 90 are > 4 sigma away
  CAF_CHECK_LESS(errors, 90);
  CAF_CHECK_GREATER(forward_errors, 0);
  CAF_CHECK_GREATER(backward_errors, 0);
  CAF_CHECK_EQUAL(stats(*sys, sometimes).injected_failures, errors);
  // every backward call that was not failed on purpose updated the expert, no other did
  CAF_CHECK_EQUAL(expert_stats(stats(*sys, sometimes), "ffn.1.0").updates,
                  calls / 2 - backward_errors);
}

CAF_TEST(a transformer server answers like its local twin) {
  auto options = small_options();
  options.expert_type = "transformer";
  options.expert_pattern = "tf.[0:2]";
  auto server = spawn(options);
  auto twin = local_twin(options, "tf.1");
  auto x = torch::randn({2, 3, h});
  auto y = tensors_of(forward(*sys, server, "tf.1", x));
  CAF_REQUIRE_EQUAL(y.size(), 1u);
  CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(y[0], local_forward(*twin, x)), 1e-5);
  auto other_length = tensors_of(forward(*sys, server, "tf.1", torch::randn({1, 7, h})));
  CAF_REQUIRE_EQUAL(other_length.size(), 1u);
  CAF_CHECK_EQUAL(other_length[0].size(1), 7);
}

CAF_TEST(bad options are spawn errors and num_experts samples the pattern) {
  server_setup bad;
  bad.options = small_options();
  bad.options.expert_type = "no_such_type";
  CAF_CHECK(!try_spawn_server(*sys, bad));
  CAF_CHECK(!spawn_server(*sys, bad));
  bad.options = small_options();
  bad.options.expert_pattern = "ffn.[0:2";
  CAF_CHECK(!try_spawn_server(*sys, bad));
  bad.options = small_options();
  bad.options.num_experts = 5;  // the pattern has 4
  CAF_CHECK(!try_spawn_server(*sys, bad));
  auto options = small_options();
  options.expert_pattern = "ffn.[0:4].[0:4]";
  options.num_experts = 3;
  auto server = spawn(options);
  auto s = stats(*sys, server);
  CAF_CHECK_EQUAL(s.experts.size(), 3u);
  auto expected_ids = hosted_expert_ids(options, server_seed(options, server_name));
  CAF_REQUIRE(expected_ids);
  for (auto& id : *expected_ids)
    CAF_CHECK_EQUAL(expert_stats(s, id).requests, 0);
}

CAF_TEST_FIXTURE_SCOPE_END()

#undef CAF_SUITE
#define CAF_SUITE server.restart

CAF_TEST_FIXTURE_SCOPE(server_restart_tests, fixture)

CAF_TEST(a re - spawned server resumes from its checkpoints) {
  temp_dir dir{"server-restart"};
  auto options = small_options();
  options.checkpoint_dir = dir.str();
  auto first = spawn(options);
  auto twin = local_twin(options, "ffn.0.1");
  torch::manual_seed(3);
  for (int step = 0; step < 2; ++step) {
    auto x = torch::randn({4, h});
    auto g = torch::randn({4, h});
    CAF_REQUIRE_EQUAL(outcome(backward(*sys, first, "ffn.0.1", x, g)), "ok");
    CAF_REQUIRE(twin->backward({x}, {g}));
  }
  CAF_CHECK_EQUAL(checkpoint(*sys, first), 4u);
  for (auto id : {"ffn.0.0", "ffn.0.1", "ffn.1.0", "ffn.1.1"})
    CAF_CHECK(std::filesystem::exists(checkpoint_path(dir.str(), id)));
  CAF_CHECK_EQUAL(stop(*sys, first), 4u);
  caf::anon_send_exit(first, caf::exit_reason::user_shutdown);
  auto second = spawn(options);
  auto probe = torch::randn({3, h});
  auto y = tensors_of(forward(*sys, second, "ffn.0.1", probe));
  CAF_REQUIRE_EQUAL(y.size(), 1u);
  CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(y[0], local_forward(*twin, probe)), 1e-5);
  CAF_CHECK_GREATER(max_abs_diff(y[0], local_forward(*local_twin(options, "ffn.0.1"), probe)), 1e-4);
  CAF_CHECK_EQUAL(expert_stats(stats(*sys, second), "ffn.0.1").updates, 2);
  // The optimizer state came back too: the next step matches the twin's next step.
  auto x = torch::randn({4, h});
  auto g = torch::randn({4, h});
  CAF_REQUIRE_EQUAL(outcome(backward(*sys, second, "ffn.0.1", x, g)), "ok");
  CAF_REQUIRE(twin->backward({x}, {g}));
  y = tensors_of(forward(*sys, second, "ffn.0.1", probe));
  CAF_REQUIRE_EQUAL(y.size(), 1u);
  CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(y[0], local_forward(*twin, probe)), 1e-5);
}

CAF_TEST(periodic checkpoints are written without being asked) {
  temp_dir dir{"server-periodic"};
  auto options = small_options();
  options.checkpoint_dir = dir.str();
  options.checkpoint_period = std::chrono::milliseconds(100);
  auto server = spawn(options);
  auto path = checkpoint_path(dir.str(), "ffn.1.1");
  // Bounded wait for the timer-driven write (stats report finished rounds).
  int64_t rounds = 0;
  for (int i = 0; i < 100 && rounds < 1; ++i) {
    rounds = stats(*sys, server).checkpoints.rounds;
    if (rounds < 1)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CAF_CHECK_GREATER_OR_EQUAL(rounds, 1);
  CAF_CHECK(std::filesystem::exists(path));
  CAF_CHECK_EQUAL(stop(*sys, server), 4u);
}

CAF_TEST(an unusable checkpoint is moved aside and its expert starts fresh) {
  temp_dir dir{"server-unusable"};
  auto options = small_options();
  options.checkpoint_dir = dir.str();
  auto first = spawn(options);
  torch::manual_seed(4);
  auto x = torch::randn({4, h});
  CAF_REQUIRE_EQUAL(outcome(backward(*sys, first, "ffn.0.1", x, torch::randn({4, h}))), "ok");
  CAF_REQUIRE_EQUAL(checkpoint(*sys, first), 4u);
  CAF_CHECK_EQUAL(stop(*sys, first), 4u);
  caf::anon_send_exit(first, caf::exit_reason::user_shutdown);
  auto damaged = checkpoint_path(dir.str(), "ffn.0.1");
  auto size = std::filesystem::file_size(damaged);
  std::filesystem::resize_file(damaged, size / 2);  // as a crash mid-copy would leave it
  for (int restart = 0; restart < 2; ++restart) {
    auto server = spawn(options);  // CAF_REQUIREs that the server starts
    auto aside = damaged + (restart == 0 ? ".bad" : ".bad.1");
    CAF_CHECK(std::filesystem::exists(aside));
    CAF_CHECK(!std::filesystem::exists(damaged));
    CAF_CHECK_EQUAL(std::filesystem::file_size(aside), restart == 0 ? size / 2 : 10u);
    auto probe = torch::randn({3, h});
    auto y = tensors_of(forward(*sys, server, "ffn.0.1", probe));
    CAF_REQUIRE_EQUAL(y.size(), 1u);
    CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(y[0], local_forward(*local_twin(options, "ffn.0.1"), probe)),
                            1e-5);
    auto s = stats(*sys, server);
    CAF_CHECK_EQUAL(expert_stats(s, "ffn.0.1").updates, 0);
    CAF_CHECK_EQUAL(checkpoint(*sys, server), 4u);  // writes a good one again
    CAF_CHECK(std::filesystem::exists(damaged));
    CAF_CHECK_EQUAL(stop(*sys, server), 4u);
    caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
    std::filesystem::resize_file(damaged, 10);
  }
}

CAF_TEST(without a checkpoint directory checkpoints save nothing) {
  auto server = spawn(small_options());
  CAF_CHECK_EQUAL(checkpoint(*sys, server), 0u);
  CAF_CHECK_EQUAL(stop(*sys, server), 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
