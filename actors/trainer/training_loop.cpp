#include "actors/trainer/training_loop.hpp"

#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <torch/nn/functional/loss.h>
#include <ATen/Parallel.h>
#include <torch/utils.h>

#include "actors/trainer/batch_source.hpp"
#include "actors/trainer/evaluation.hpp"
#include "actors/trainer/model.hpp"
#include "actors/trainer/shared_parameters.hpp"
#include "actors/trainer/trainer_checkpoint.hpp"
#include "runtime/experts/compute_pool.hpp"
#include "messages/errors.hpp"
#include "runtime/data/fashion_mnist.hpp"
#include "runtime/logging.hpp"
#include "runtime/progress.hpp"

namespace dmoe {

namespace {

using clock_type = std::chrono::steady_clock;

constexpr double smoothing = 0.05;             // weight of the newest step in moving averages
constexpr auto failure_backoff = std::chrono::milliseconds(500);
constexpr size_t csv_every = 50;               // steps between CSV rows

struct tensors {
  torch::Tensor images;  // [N, 784] float
  torch::Tensor labels;  // [N] int64
};

tensors to_tensors(data::image_set&& set) {
  auto n = static_cast<int64_t>(set.count);
  auto d = static_cast<int64_t>(set.image_size());
  auto images = torch::from_blob(set.pixels.data(), {n, d}, torch::kFloat32).clone();
  auto labels = torch::from_blob(set.labels.data(), {n}, torch::kInt64).clone();
  return {images, labels};
}

/// The learning rate at `step` of `total` (0: unknown, so constant): a cosine from `base` down
/// to 10% of it, which gains the last points of accuracy a constant rate leaves; over the first
/// warmup_steps it rises linearly (with many workers the first gradients, all pointing the same
/// way and applied several updates late, overshoot at a full rate).
double scheduled_rate(const trainer_options& opt, size_t step, size_t total) {
  double warmup = 1.0;
  if (step < opt.warmup_steps)
    warmup = static_cast<double>(step + 1) / static_cast<double>(opt.warmup_steps);
  if (opt.lr_schedule != lr_schedule_kind::cosine || total == 0)
    return warmup * opt.learning_rate;
  constexpr double floor = 0.1;
  auto progress = std::min(1.0, static_cast<double>(step) / static_cast<double>(total));
  return warmup * opt.learning_rate
         * (floor + (1 - floor) * 0.5 * (1 + std::cos(M_PI * progress)));
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

}  // namespace

struct training_loop::impl {
  caf::actor_system& system;
  trainer_setup setup;
  std::shared_ptr<spdlog::logger> log;
  mutable std::mutex mtx;
  trainer_metrics current;

  impl(caf::actor_system& sys, trainer_setup s)
    : system(sys), setup(std::move(s)), log(log::get(setup.name)) {
  }

  trainer_metrics metrics_snapshot() const {
    std::lock_guard<std::mutex> guard{mtx};
    return current;
  }

  template <class F>
  void update(F&& f) {
    std::lock_guard<std::mutex> guard{mtx};
    f(current);
  }

  void fail(const std::string& why) {
    log->error("{}", why);
    update([&](trainer_metrics& m) {
      m.state = "failed";
      m.error = why;
    });
  }

  uint64_t seed() const {
    if (setup.options.seed != 0)
      return setup.options.seed;
    return std::hash<std::string>{}(setup.name);
  }

  caf::expected<tensors> load(std::string_view split) {
    auto set = data::load_fashion_mnist(setup.options.data_dir, split);
    if (!set)
      return set.error();
    return to_tensors(std::move(*set));
  }

  trainer_progress progress(double elapsed_s, double eval_s) const {
    auto m = metrics_snapshot();
    return {m.step,    m.epoch,  m.samples,       m.failed_steps,
            m.failed_evals, elapsed_s, eval_s, m.test_accuracy};
  }

  void train(const std::atomic<bool>& stop);
};

training_loop::training_loop(caf::actor_system& system, trainer_setup setup)
  : impl_(std::make_unique<impl>(system, std::move(setup))) {
}

training_loop::~training_loop() = default;

trainer_metrics training_loop::metrics() const {
  return impl_->metrics_snapshot();
}

void training_loop::run(const std::atomic<bool>& stop) {
  try {
    impl_->train(stop);
  } catch (const std::exception& e) {
    impl_->log->error("training failed: {}", e.what());
    impl_->update([&](trainer_metrics& m) {
      m.state = "failed";
      m.error = e.what();
    });
  }
}

void training_loop::impl::train(const std::atomic<bool>& stop) {
  const auto& opt = setup.options;
  auto train_set = load("train");
  auto test_set = train_set ? load("test") : caf::expected<tensors>{train_set.error()};
  if (!test_set)
    return fail("cannot load Fashion-MNIST from '" + opt.data_dir
                + "': " + describe(test_set.error()));
  // The local layers are small and the experts compute remotely: one thread (OpenBLAS's too),
  // so idle BLAS and OpenMP workers do not spin on cores the servers of a local swarm need
  // (measured: OpenBLAS's yielding threads took a third of a trainer's CPU). The largeffn
  // baseline computes everything here and gets every core.
  configure_torch_threads(opt.model == model_kind::largeffn
                            ? std::max(1u, std::thread::hardware_concurrency())
                            : 1);
  torch::manual_seed(seed());
  auto n = train_set->images.size(0);
  batch_source batches{n, opt.batch_size, opt.epochs};
  auto steps_per_epoch = batches.steps_per_epoch();
  size_t total_steps = opt.epochs > 0 ? opt.epochs * steps_per_epoch : 0;
  if (opt.max_steps > 0)
    total_steps = total_steps > 0 ? std::min(total_steps, opt.max_steps) : opt.max_steps;
  auto make_model = [&] {
    return DMoEClassifier{system, setup.router, opt, setup.moe, train_set->images.size(1),
                          data::fashion_mnist_classes};
  };
  auto model = make_model();
  auto workers = std::max<size_t>(1, opt.workers);
  auto max_staleness = opt.max_staleness > 0 ? opt.max_staleness : workers;
  auto accumulate = std::max<size_t>(1, opt.accumulate);
  shared_parameters shared{
    model.ptr(), [&](uint64_t index) { return scheduled_rate(opt, index, total_steps); },
    {max_staleness, opt.stale_rate == stale_rate_kind::divided, accumulate}};
  // With one worker it trains the model itself; with more, each trains its own replica.
  std::vector<DMoEClassifier> replicas;
  if (workers == 1)
    replicas.push_back(model);
  else
    for (size_t w = 0; w < workers; ++w)
      replicas.push_back(make_model());
  trainer_progress before;  // from the checkpoint a restarted trainer resumes
  if (!opt.checkpoint_dir.empty()) {
    auto resumed = resume_from_checkpoint(opt.checkpoint_dir, shared, batches);
    if (!resumed)
      return fail(describe(resumed.error()));
    before = *resumed;
  }
  if (before.step > 0) {
    torch::manual_seed(seed() + before.step);  // later epochs: their own orders, not a replay
    log->info("resumed from {} at step {} (epoch {}, {} samples, test accuracy {:.2f}%)",
              trainer_checkpoint_path(opt.checkpoint_dir), before.step, before.epoch + 1,
              before.samples, before.test_accuracy * 100);
    update([&](trainer_metrics& m) {
      m.step = m.resumed_at = before.step;
      m.epoch = before.epoch;
      m.samples = before.samples;
      m.failed_steps = before.failed_steps;
      m.failed_evals = before.failed_evals;
      m.test_accuracy = before.test_accuracy;
      m.elapsed_s = before.elapsed_s;
    });
  }
  std::ofstream csv;
  if (!opt.metrics_csv.empty()) {
    bool resuming = before.step > 0;
    csv.open(opt.metrics_csv, resuming ? std::ios::app : std::ios::trunc);
    if (!csv)
      log->warn("cannot write metrics to '{}'; going on without", opt.metrics_csv);
    if (!resuming)
      csv << "time_s,step,epoch,samples,loss,train_accuracy,test_accuracy,samples_per_s,"
             "failed_steps,staleness\n";
  }
  auto csv_row = [&] {
    if (!csv)
      return;
    auto m = metrics_snapshot();
    csv << fmt::format("{:.2f},{},{},{},{:.5f},{:.4f},{},{:.1f},{},{:.2f}\n", m.elapsed_s, m.step,
                       m.epoch, m.samples, m.loss, m.train_accuracy,
                       m.test_accuracy < 0 ? std::string{} : fmt::format("{:.4f}", m.test_accuracy),
                       m.samples_per_s, m.failed_steps, m.staleness);
    csv.flush();
  };
  progress_bar bar{setup.name, total_steps, opt.progress};
  update([&](trainer_metrics& m) {
    m.state = "training";
    m.total_steps = total_steps;
    m.workers = workers;
  });
  log->info("training {}: {} train / {} test images, batch {}, {} steps per epoch, {} steps, {} "
            "worker(s), {} batch(es) per update",
            opt.model == model_kind::largeffn
              ? fmt::format("the largeffn baseline (inner width {})",
                            large_ffn_width(opt.hidden, setup.moe.grid))
              : std::string{"a DMoE model"},
            n, test_set->images.size(0), opt.batch_size, steps_per_epoch,
            total_steps > 0 ? std::to_string(total_steps) : "unlimited", workers, accumulate);
  auto start = clock_type::now();
  auto elapsed = [&] { return before.elapsed_s + seconds_since(start); };
  auto max_seconds = std::chrono::duration<double>(opt.max_time).count();
  // What the workers share besides the parameters; `run_mtx` guards it, the CSV and the bar.
  std::mutex run_mtx;
  double eval_seconds = before.eval_s;
  size_t step = before.step;
  size_t in_flight = 0;
  size_t evaluated_at = before.step;
  bool exhausted = false;
  auto last_checkpoint = clock_type::now();
  bool checkpointing = false;
  auto checkpoint = [&](bool now) {
    if (opt.checkpoint_dir.empty())
      return;
    trainer_progress at;
    {
      std::lock_guard<std::mutex> guard{run_mtx};
      if (checkpointing || (!now && clock_type::now() - last_checkpoint < opt.checkpoint_period))
        return;
      checkpointing = true;
      at = progress(elapsed(), eval_seconds);
    }
    auto err = save_trainer_checkpoint(opt.checkpoint_dir, shared, batches.where(), at);
    if (err)
      log->warn("{}", describe(err));
    else
      log->debug("checkpoint at step {}", at.step);
    std::lock_guard<std::mutex> guard{run_mtx};
    checkpointing = false;
    last_checkpoint = clock_type::now();
  };
  auto run_eval = [&] {
    update([](trainer_metrics& m) { m.state = "evaluating"; });
    auto eval_start = clock_type::now();
    std::optional<double> accuracy;
    size_t at = 0;
    // No update can land while the shared model is evaluated; workers wait to apply theirs.
    shared.with_model([&](torch::nn::Module&) {
      at = metrics_snapshot().step;
      accuracy = test_accuracy(model, test_set->images, test_set->labels, opt.eval_samples, stop,
                               *log);
    });
    std::lock_guard<std::mutex> guard{run_mtx};
    evaluated_at = std::max(evaluated_at, at);
    eval_seconds += seconds_since(eval_start);
    update([&](trainer_metrics& m) {
      m.state = "training";
      if (accuracy)
        m.test_accuracy = *accuracy;
      else
        ++m.failed_evals;
    });
    if (accuracy)
      log->info("step {}: test accuracy {:.2f}%", at, *accuracy * 100);
    else if (!stop)
      log->warn("step {}: the evaluation failed; training goes on", at);
  };
  auto work = [&](DMoEClassifier& replica) {
    for (;;) {
      {
        std::lock_guard<std::mutex> guard{run_mtx};
        if (stop || exhausted || (total_steps > 0 && step + in_flight >= total_steps)
            || elapsed() > max_seconds)
          return;
        ++in_flight;
      }
      auto batch = batches.next();
      if (!batch) {
        std::lock_guard<std::mutex> guard{run_mtx};
        --in_flight;
        exhausted = true;
        return;
      }
      auto images = train_set->images.index_select(0, batch->indices);
      auto labels = train_set->labels.index_select(0, batch->indices);
      bool due_eval = false;
      try {
        auto version = shared.read(*replica);
        auto logits = replica->forward(images);
        auto loss = torch::nn::functional::cross_entropy(logits, labels);
        loss.backward();
        auto applied = shared.apply(*replica, version);
        if (!applied.applied) {
          {
            std::lock_guard<std::mutex> guard{run_mtx};
            --in_flight;
          }
          update([](trainer_metrics& m) { ++m.stale_dropped; });
          log->debug("dropped a gradient {} updates stale", applied.staleness);
          continue;
        }
        auto accuracy = logits.argmax(1).eq(labels).to(torch::kFloat32).mean().item<double>();
        auto loss_value = loss.item<double>();
        std::lock_guard<std::mutex> guard{run_mtx};
        --in_flight;
        step = std::max(step, static_cast<size_t>(applied.gradients));
        update([&](trainer_metrics& m) {
          bool first = m.step == m.resumed_at;  // no average yet in this process
          m.step = step;
          m.epoch = std::max(m.epoch, batch->epoch);
          m.samples += static_cast<size_t>(batch->indices.size(0));
          m.loss = first ? loss_value : (1 - smoothing) * m.loss + smoothing * loss_value;
          m.train_accuracy =
            first ? accuracy : (1 - smoothing) * m.train_accuracy + smoothing * accuracy;
          auto stale = static_cast<double>(applied.staleness);
          m.staleness = first ? stale : (1 - smoothing) * m.staleness + smoothing * stale;
          m.max_staleness = std::max(m.max_staleness, static_cast<size_t>(applied.staleness));
          m.elapsed_s = elapsed();
          m.samples_per_s = m.samples / std::max(1e-9, m.elapsed_s - eval_seconds);
        });
        due_eval = applied.gradients % opt.eval_every == 0;
        if (applied.gradients == 1 || applied.gradients % csv_every == 0)
          csv_row();
        auto m = metrics_snapshot();
        bar.update(m.step, fmt::format("loss {:.3f} acc {:.1f}% test {} {:.0f} samples/s",
                                       m.loss, m.train_accuracy * 100,
                                       m.test_accuracy < 0
                                         ? std::string{"-"}
                                         : fmt::format("{:.1f}%", m.test_accuracy * 100),
                                       m.samples_per_s));
      } catch (const std::exception& e) {
        {
          std::lock_guard<std::mutex> guard{run_mtx};
          --in_flight;
        }
        update([](trainer_metrics& m) { ++m.failed_steps; });
        if (stop)
          continue;  // a stopping node failed the call: no backoff, no warning
        log->warn("a step was skipped: {}", e.what());
        std::this_thread::sleep_for(failure_backoff);
        continue;
      }
      if (due_eval)
        run_eval();
      checkpoint(false);
    }
  };
  if (workers == 1) {
    work(replicas.front());
  } else {
    std::vector<std::thread> threads;
    std::mutex failure_mtx;
    std::string failure;
    for (auto& replica : replicas)
      threads.emplace_back([&, r = &replica] {
        try {
          work(*r);
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> guard{failure_mtx};
          failure = e.what();
        }
      });
    for (auto& t : threads)
      t.join();
    if (!failure.empty())
      throw std::runtime_error(failure);
  }
  bar.finish();
  bool flushed = shared.flush();  // the last batches' gradients when they made no full update
  if (step > 0 && (evaluated_at != step || flushed) && !stop)
    run_eval();
  checkpoint(true);
  update([&](trainer_metrics& m) {
    m.elapsed_s = elapsed();
    m.state = "done";
  });
  csv_row();
  auto m = metrics_snapshot();
  log->info("done: {} steps, {} samples in {:.1f} s ({:.0f} samples/s), loss {:.4f}, "
            "test accuracy {:.2f}%, {} failed steps, {} failed evaluations, staleness {:.2f} "
            "(max {}, {} dropped){}",
            m.step, m.samples, m.elapsed_s, m.samples_per_s, m.loss, m.test_accuracy * 100,
            m.failed_steps, m.failed_evals, m.staleness, m.max_staleness, m.stale_dropped,
            m.resumed_at > 0 ? fmt::format(", resumed at step {}", m.resumed_at) : "");
}

}  // namespace dmoe
