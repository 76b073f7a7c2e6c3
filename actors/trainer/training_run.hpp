// The training loop's run (training_loop.hpp has the interface): the state its workers share,
// split over training_loop.cpp (steps, evaluation, checkpoints) and training_run_averaging.cpp
// (outer steps with the run's other trainers). Internal to the trainer.
#pragma once

#include "actors/trainer/training_loop.hpp"

#include <chrono>
#include <cmath>
#include <deque>
#include <future>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "actors/trainer/batch_source.hpp"
#include "actors/trainer/metrics_csv.hpp"
#include "actors/trainer/outer_averaging.hpp"
#include "actors/trainer/shared_parameters.hpp"
#include "actors/trainer/task.hpp"
#include "actors/trainer/trainer_checkpoint.hpp"
#include "messages/errors.hpp"
#include "messages/expert_pattern.hpp"
#include "runtime/experts/compute_pool.hpp"
#include "runtime/logging.hpp"
#include "runtime/progress.hpp"

namespace dmoe {

namespace training {

using clock_type = std::chrono::steady_clock;

constexpr double smoothing = 0.05;             // weight of the newest step in moving averages
constexpr auto failure_backoff = std::chrono::milliseconds(500);
constexpr size_t csv_every = 50;               // steps between CSV rows

/// The learning rate at `step` of `total` (0: unknown, so constant): a cosine from `base` down
/// to 10% of it, which gains the last points of accuracy a constant rate leaves; over the first
/// warmup_steps it rises linearly (with many workers the first gradients, all pointing the same
/// way and applied several updates late, overshoot at a full rate).
inline double scheduled_rate(const trainer_options& opt, size_t step, size_t total) {
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

inline double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

inline double smoothed(bool first, double average, double newest) {
  return first ? newest : (1 - smoothing) * average + smoothing * newest;
}

}  // namespace training

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

  void train(const std::atomic<bool>& stop);
};

namespace training {

/// One training run: the state the workers share and what they do with it. `run_mtx_` guards
/// the counters below it, the CSV and the progress bar; the metrics have their own lock.
class training_run {
public:
  training_run(training_loop::impl& owner, training_task& task, const std::atomic<bool>& stop)
    : owner_(owner),
      opt_(owner.setup.options),
      task_(task),
      stop_(stop),
      log_(*owner.log),
      batches_(task.examples(), opt_.batch_size, opt_.epochs) {
  }

  ~training_run() {
    // Whatever way run() ended: the averaging thread gets what it waits for, then ends.
    workers_done();
    if (round_thread_.joinable())
      round_thread_.join();
  }

  void run();

private:
  bool language_model() const {
    return task_.held_out() == held_out_kind::bits_per_character;
  }
  bool resume();
  void open_csv();
  /// A metrics row; a language model's held-out columns only in rows after an evaluation.
  void csv_row(bool evaluation = false);
  void show_progress();
  void work(torch::nn::Module& replica);
  /// Under run_mtx_: whether another batch may start (then it is counted in flight).
  bool take_batch();
  void put_back_batch();
  void record(const step_outcome& outcome, const shared_parameters::update& applied,
              size_t epoch);
  void evaluate();
  void checkpoint(bool now);
  bool averaging() const {
    return owner_.setup.member.options.every > 0 && owner_.setup.member.averager;
  }
  void start_averaging();
  /// An outer step, unless no step happened since the last: `overlapped` on its own thread
  /// (after waiting for the one under way, if any; training goes on meanwhile), else now,
  /// after waiting for the one under way. Returns whether the trainer's parameters are the
  /// run's after it (also when no step happened since; an overlapped one: once it started).
  bool outer_step(bool overlapped);
  bool run_outer_step(bool overlapped);
  /// Runs `f` on the shared model between two training steps (or at once when no worker
  /// trains any more); returns once it ran.
  void between_steps(const std::function<void(torch::nn::Module&)>& f);
  /// What the averaging thread asked to run between steps: run by workers after each step.
  void run_pending();
  /// No worker trains from now on; what is pending runs at once.
  void workers_done();
  trainer_progress progress() const;
  double elapsed() const {
    return before_.elapsed_s + seconds_since(start_);
  }

  training_loop::impl& owner_;
  const trainer_options& opt_;
  training_task& task_;
  const std::atomic<bool>& stop_;
  spdlog::logger& log_;
  batch_source batches_;
  size_t total_steps_ = 0;
  std::shared_ptr<torch::nn::Module> model_;
  std::unique_ptr<shared_parameters> shared_;
  std::unique_ptr<outer_averaging> outer_;
  trainer_progress before_;  // from the checkpoint a restarted trainer resumes
  metrics_csv csv_;
  std::unique_ptr<progress_bar> bar_;
  clock_type::time_point start_ = clock_type::now();
  double max_seconds_ = 0;

  std::mutex run_mtx_;
  double eval_seconds_ = 0;
  size_t step_ = 0;
  size_t in_flight_ = 0;
  size_t evaluated_at_ = 0;
  bool exhausted_ = false;
  clock_type::time_point last_checkpoint_ = clock_type::now();
  bool checkpointing_ = false;
  std::mutex outer_mtx_;         // one outer step at a time; taken before run_mtx_
  size_t outer_at_ = 0;          // the step of the last outer step
  size_t samples_at_outer_ = 0;  // the samples counted then
  std::thread round_thread_;     // the overlapped outer step under way, if any
  std::atomic<bool> round_running_{false};
  std::mutex pending_mtx_;
  std::deque<std::packaged_task<void()>> pending_;  // for the workers, between steps
  bool workers_running_ = true;                      // under pending_mtx_
};

}  // namespace training

}  // namespace dmoe
