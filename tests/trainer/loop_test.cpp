// The training loop (actors/trainer/training_loop.hpp) on real Fashion-MNIST against a stand-in
// router in the same process (every expert answers zeros; a batch over a size fails, like a
// forward that misses k_min): an evaluation that fails does not end training, and a trainer
// resumed from its checkpoint goes on exactly where it stopped; the largeffn baseline trains
// without calling the router; workers with accumulated gradients count batches as steps.
#define CAF_SUITE trainer.loop
#include <caf/test/unit_test.hpp>

#include <atomic>
#include <filesystem>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <torch/serialize.h>
#include <torch/types.h>

#include "actors/moe/router.hpp"
#include "actors/trainer/model.hpp"
#include "actors/trainer/trainer_checkpoint.hpp"
#include "actors/trainer/training_loop.hpp"
#include "messages/errors.hpp"
#include "messages/type_ids.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;

namespace {

constexpr int64_t hidden = 16;

/// Answers forwards with zeros from every slot, except batches over `max_rows`, which fail.
moe::router_actor::behavior_type stand_in_router(moe::router_actor::pointer, size_t k_best,
                                                 int64_t max_rows) {
  return {
    [=](moe::moe_forward_atom, moe::forward_job_ptr& job) -> caf::result<caf::ok_atom> {
      auto b = job->inputs.size(0);
      if (b > max_rows)
        return make_error(errc::unavailable, "stand-in: too many samples");
      auto k = static_cast<int64_t>(k_best);
      job->outputs = torch::zeros({b, k, job->hidden});
      job->mask = torch::ones({b, k}, torch::kBool);
      job->coords = torch::zeros({b, k, 2}, torch::kInt64);
      return caf::ok_atom::value;
    },
    [=](moe::moe_backward_atom, moe::backward_job_ptr& job) -> caf::result<caf::ok_atom> {
      job->grad_inputs = torch::zeros_like(job->forward->inputs);
      return caf::ok_atom::value;
    },
    [](stats_atom) { return moe::router_stats{}; },
  };
}

struct loop_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;
  std::string dir = test::temp_dir("loop");

  std::vector<moe::router_actor> routers;

  loop_fixture() {
    register_types(cfg);
    cfg.set("scheduler.max-threads", 2);
    cfg.set("logger.verbosity", caf::atom("quiet"));
    system = std::make_unique<caf::actor_system>(cfg);
  }

  ~loop_fixture() {
    for (auto& r : routers)
      caf::anon_send_exit(r, caf::exit_reason::kill);
    routers.clear();
    system.reset();  // waits for the stand-ins to be gone
  }

  trainer_setup setup(size_t max_steps, int64_t max_rows) {
    trainer_setup s;
    s.options.hidden = hidden;
    s.options.batch_size = 32;
    s.options.max_steps = max_steps;
    s.options.epochs = 1;
    s.options.eval_every = 10;
    s.options.eval_samples = 1000;
    s.options.seed = 5;
    s.options.lr_schedule = lr_schedule_kind::constant;  // the same rates whatever max_steps says
    s.moe.grid = {4, 4};
    s.moe.k_best = 2;
    s.router = system->spawn(stand_in_router, s.moe.k_best, max_rows);
    routers.push_back(s.router);
    return s;
  }

  trainer_metrics run(trainer_setup s) {
    training_loop loop{*system, std::move(s)};
    std::atomic<bool> stop{false};
    loop.run(stop);
    return loop.metrics();
  }
};

/// One parameter of a saved trainer checkpoint, e.g. ("output", "weight").
torch::Tensor saved_parameter(const std::string& dir, const std::string& module,
                              const std::string& name) {
  torch::serialize::InputArchive archive, model, sub;
  archive.load_from(trainer_checkpoint_path(dir));
  archive.read("model", model);
  model.read(module, sub);
  torch::Tensor out;
  sub.read(name, out);
  return out;
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(loop_tests, loop_fixture)

CAF_TEST(an evaluation that fails does not end training) {
  // Training batches of 32 pass; every evaluation batch of 1000 fails.
  auto m = run(setup(30, 256));
  CAF_MESSAGE("state " << m.state << ", step " << m.step << ", failed evaluations "
                       << m.failed_evals << ", failed steps " << m.failed_steps);
  CAF_CHECK_EQUAL(m.state, "done");
  CAF_CHECK_EQUAL(m.step, 30u);
  CAF_CHECK_EQUAL(m.failed_steps, 0u);
  CAF_CHECK_EQUAL(m.failed_evals, 3u);  // at steps 10, 20 and 30
  CAF_CHECK_LESS(m.test_accuracy, 0.0);  // never measured
  // The same run with evaluations that pass measures its accuracy.
  auto ok = run(setup(10, 100000));
  CAF_CHECK_EQUAL(ok.state, "done");
  CAF_CHECK_EQUAL(ok.failed_evals, 0u);
  CAF_CHECK_GREATER(ok.test_accuracy, 0.1);
}

CAF_TEST(a trainer resumed from its checkpoint goes on exactly where it stopped) {
  auto resumed_dir = dir + "/resumed";
  auto straight_dir = dir + "/straight";
  auto first = setup(20, 100000);
  first.options.checkpoint_dir = resumed_dir;
  auto a = run(first);
  CAF_REQUIRE_EQUAL(a.state, "done");
  CAF_REQUIRE(std::filesystem::exists(trainer_checkpoint_path(resumed_dir)));
  auto after_20 = saved_parameter(resumed_dir, "output", "weight");
  auto second = setup(40, 100000);
  second.options.checkpoint_dir = resumed_dir;
  auto b = run(second);
  CAF_CHECK_EQUAL(b.state, "done");
  CAF_CHECK_EQUAL(b.resumed_at, 20u);
  CAF_CHECK_EQUAL(b.step, 40u);
  CAF_CHECK_EQUAL(b.samples, 40u * 32u);
  // Trained 0..40 in one go, the same seed: the same parameters to the last bit.
  auto third = setup(40, 100000);
  third.options.checkpoint_dir = straight_dir;
  auto c = run(third);
  CAF_CHECK_EQUAL(c.resumed_at, 0u);
  for (auto [module, name] : {std::pair{"input", "weight"}, std::pair{"output", "weight"},
                              std::pair{"output", "bias"}}) {
    auto resumed = saved_parameter(resumed_dir, module, name);
    auto straight = saved_parameter(straight_dir, module, name);
    CAF_MESSAGE(module << "." << name << ": max |resumed - straight| = "
                       << (resumed - straight).abs().max().item<double>());
    CAF_CHECK(torch::equal(resumed, straight));
  }
  // ...and it did train after resuming (the check above could not pass on a copy of step 20).
  CAF_CHECK(!torch::equal(after_20, saved_parameter(resumed_dir, "output", "weight")));
  // A checkpoint of another model is refused with a clear error, not loaded.
  auto other = setup(40, 100000);
  other.options.checkpoint_dir = resumed_dir;
  other.options.hidden = hidden * 2;
  auto d = run(other);
  CAF_MESSAGE("other model: " << d.error);
  CAF_CHECK_EQUAL(d.state, "failed");
  CAF_CHECK(d.error.find("shapes") != std::string::npos);
}

CAF_TEST(the largeffn baseline trains locally with the parameters of the grid experts) {
  auto s = setup(60, 0);  // a router that fails every call: the baseline must make none
  s.options.model = model_kind::largeffn;
  s.options.eval_every = 60;
  DMoEClassifier model{*system, s.router, s.options, s.moe, 784, 10};
  int64_t block = 0;
  for (const auto& p : model->named_parameters())
    if (p.key().rfind("ffn0.", 0) == 0)
      block += p.value().numel();
  int64_t expert = 0;
  for (const auto& p : ffn_expert{hidden}.parameters())
    expert += p.numel();
  CAF_MESSAGE("largeffn block " << block << " parameters, 16 experts " << 16 * expert);
  // the same but for 15 experts' own LayerNorm and output bias (3 h each)
  CAF_CHECK_EQUAL(block, 16 * expert - 15 * 3 * hidden);
  auto m = run(s);
  CAF_MESSAGE("state " << m.state << ", step " << m.step << ", test accuracy "
                       << m.test_accuracy);
  CAF_CHECK_EQUAL(m.state, "done");
  CAF_CHECK_EQUAL(m.step, 60u);
  CAF_CHECK_EQUAL(m.failed_steps, 0u);
  CAF_CHECK_GREATER(m.test_accuracy, 0.6);
}

CAF_TEST(workers whose gradients accumulate into one update count every batch as a step) {
  auto s = setup(80, 100000);
  s.options.workers = 4;
  s.options.accumulate = 4;
  s.options.eval_every = 80;
  auto m = run(s);
  CAF_MESSAGE("state " << m.state << ", step " << m.step << ", staleness " << m.staleness
                       << " (max " << m.max_staleness << "), test accuracy "
                       << m.test_accuracy);
  CAF_CHECK_EQUAL(m.state, "done");
  CAF_CHECK_EQUAL(m.step, 80u);  // batches applied; a dropped gradient does not count
  CAF_CHECK_EQUAL(m.samples, 80u * 32u);
  CAF_CHECK_GREATER(m.test_accuracy, 0.3);  // 20 averaged updates, from 10 % at chance
}

CAF_TEST_FIXTURE_SCOPE_END()
