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

namespace {

using clock_type = std::chrono::steady_clock;

constexpr double smoothing = 0.05;             // weight of the newest step in moving averages
constexpr auto failure_backoff = std::chrono::milliseconds(500);
constexpr size_t csv_every = 50;               // steps between CSV rows

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

double smoothed(bool first, double average, double newest) {
  return first ? newest : (1 - smoothing) * average + smoothing * newest;
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

  void train(const std::atomic<bool>& stop);
};

namespace {

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
  /// An outer step, unless no step happened since the last: `overlapped` on its own thread,
  /// returning once its group formed (the all-reduce goes on while training does), else now,
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
  std::atomic<bool> snapshot_taken_{false};  // the round under way has its pseudo-gradient
  std::mutex pending_mtx_;
  std::deque<std::packaged_task<void()>> pending_;  // for the workers, between steps
  bool workers_running_ = true;                      // under pending_mtx_
};

void training_run::run() {
  auto steps_per_epoch = batches_.steps_per_epoch();
  total_steps_ = opt_.epochs > 0 ? opt_.epochs * steps_per_epoch : 0;
  if (opt_.max_steps > 0)
    total_steps_ = total_steps_ > 0 ? std::min(total_steps_, opt_.max_steps) : opt_.max_steps;
  if (averaging())  // the run's trainers start from the same parameters
    torch::manual_seed(stable_hash("averaging.run " + owner_.setup.member.options.run));
  model_ = task_.make_model();
  if (averaging())
    torch::manual_seed(owner_.seed());
  auto workers = std::max<size_t>(1, opt_.workers);
  auto accumulate = std::max<size_t>(1, opt_.accumulate);
  shared_ = std::make_unique<shared_parameters>(
    model_, [this](uint64_t index) { return scheduled_rate(opt_, index, total_steps_); },
    shared_parameters::policy{opt_.max_staleness > 0 ? opt_.max_staleness : workers,
                              opt_.stale_rate == stale_rate_kind::divided, accumulate});
  // With one worker it trains the model itself; with more, each trains its own replica.
  std::vector<std::shared_ptr<torch::nn::Module>> replicas;
  if (workers == 1)
    replicas.push_back(model_);
  else
    for (size_t w = 0; w < workers; ++w)
      replicas.push_back(task_.make_model());
  if (!resume())
    return;
  if (averaging())
    start_averaging();
  open_csv();
  bar_ = std::make_unique<progress_bar>(owner_.setup.name, total_steps_, opt_.progress);
  owner_.update([&](trainer_metrics& m) {
    m.state = "training";
    m.total_steps = total_steps_;
    m.workers = workers;
  });
  log_.info("training {}; batch {}, {} steps per epoch, {} steps, {} worker(s), {} batch(es) per "
            "update",
            task_.description(), opt_.batch_size, steps_per_epoch,
            total_steps_ > 0 ? std::to_string(total_steps_) : "unlimited", workers, accumulate);
  start_ = clock_type::now();
  max_seconds_ = std::chrono::duration<double>(opt_.max_time).count();
  if (workers == 1) {
    work(*replicas.front());
  } else {
    std::vector<std::thread> threads;
    std::mutex failure_mtx;
    std::string failure;
    for (auto& replica : replicas)
      threads.emplace_back([&, r = replica.get()] {
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
  bar_->finish();
  workers_done();
  bool flushed = shared_->flush();  // the last batches' gradients when they made no full update
  if (outer_ && !stop_) {
    // The run's trainers end with one model: a last outer step brings in what each trained
    // since the previous one; where it fails (the others ended first), the trainer drops that
    // work and ends with the run's parameters of its last outer step.
    if (!outer_step(false))
      shared_->with_model([&](torch::nn::Module& model) { outer_->settle(model); });
    flushed = true;
    // What the trainer ends with (a failed last round leaves its own work on top of the
    // run's parameters): the fingerprint that says whether the run's trainers hold one model.
    shared_->with_model([&](torch::nn::Module& model) {
      auto ended = fmt::format("{:016x}", fingerprint_of(flatten_parameters(model)));
      owner_.update([&](trainer_metrics& m) { m.shared_fingerprint = ended; });
    });
  } else if (round_thread_.joinable()) {
    round_thread_.join();
  }
  if (step_ > 0 && (evaluated_at_ != step_ || flushed) && !stop_)
    evaluate();
  if (language_model() && step_ > 0 && !stop_) {
    auto bpc = task_.evaluate(*model_, held_out_split::test, 0, stop_, log_);
    owner_.update([&](trainer_metrics& m) { m.test_bpc = bpc ? *bpc : -1; });
    if (bpc)
      log_.info("test text: {:.4f} bits per character", *bpc);
  }
  checkpoint(true);
  owner_.update([&](trainer_metrics& m) {
    m.elapsed_s = elapsed();
    m.state = "done";
  });
  csv_row(true);
  auto m = owner_.metrics_snapshot();
  auto held_out = language_model()
                    ? fmt::format("held-out {:.4f} bits per character (test text {:.4f})",
                                  m.held_out_bpc, m.test_bpc)
                    : fmt::format("test accuracy {:.2f}%", m.test_accuracy * 100);
  log_.info("done: {} steps, {} samples{} in {:.1f} s ({:.0f} samples/s{}), loss {:.4f}, {}, {} "
            "failed steps, {} failed evaluations, staleness {:.2f} (max {}, {} dropped){}{}",
            m.step, m.samples, language_model() ? fmt::format(" ({} tokens)", m.tokens) : "",
            m.elapsed_s, m.samples_per_s,
            language_model() ? fmt::format(", {:.0f} tokens/s", m.tokens_per_s) : "", m.loss,
            held_out, m.failed_steps, m.failed_evals, m.staleness, m.max_staleness,
            m.stale_dropped,
            m.resumed_at > 0 ? fmt::format(", resumed at step {}", m.resumed_at) : "",
            outer_ ? fmt::format("; averaging: {} outer steps ({} failed), {:.1f} MB, {:.1f} s, "
                                 "shared parameters {}",
                                 m.outer_steps, m.failed_rounds, m.averaging_mb, m.averaging_s,
                                 m.shared_fingerprint)
                   : "");
}

bool training_run::resume() {
  if (!opt_.checkpoint_dir.empty()) {
    auto resumed = resume_from_checkpoint(opt_.checkpoint_dir, *shared_, batches_, task_.tags());
    if (!resumed) {
      owner_.fail(describe(resumed.error()));
      return false;
    }
    before_ = *resumed;
  }
  step_ = evaluated_at_ = before_.step;
  eval_seconds_ = before_.eval_s;
  if (before_.step == 0)
    return true;
  torch::manual_seed(owner_.seed() + before_.step);  // later epochs: their own orders, not a replay
  log_.info("resumed from {} at step {} (epoch {}, {} samples)",
            trainer_checkpoint_path(opt_.checkpoint_dir), before_.step, before_.epoch + 1,
            before_.samples);
  owner_.update([&](trainer_metrics& m) {
    m.step = m.resumed_at = before_.step;
    m.epoch = before_.epoch;
    m.samples = before_.samples;
    m.tokens = before_.tokens;
    m.failed_steps = before_.failed_steps;
    m.failed_evals = before_.failed_evals;
    (language_model() ? m.held_out_bpc : m.test_accuracy) = before_.held_out;
    m.elapsed_s = before_.elapsed_s;
  });
  return true;
}

void training_run::open_csv() {
  if (!opt_.metrics_csv.empty() && !csv_.open(opt_.metrics_csv, language_model(), before_.step > 0))
    log_.warn("cannot write metrics to '{}'; going on without", opt_.metrics_csv);
}

void training_run::csv_row(bool evaluation) {
  csv_.row(owner_.metrics_snapshot(), evaluation);
}

void training_run::show_progress() {
  auto m = owner_.metrics_snapshot();
  if (language_model())
    bar_->update(m.step, fmt::format("loss {:.3f} held-out {} bits/char {:.0f} tokens/s", m.loss,
                                     m.held_out_bpc < 0 ? std::string{"-"}
                                                        : fmt::format("{:.3f}", m.held_out_bpc),
                                     m.tokens_per_s));
  else
    bar_->update(m.step, fmt::format("loss {:.3f} acc {:.1f}% test {} {:.0f} samples/s", m.loss,
                                     m.train_accuracy * 100,
                                     m.test_accuracy < 0
                                       ? std::string{"-"}
                                       : fmt::format("{:.1f}%", m.test_accuracy * 100),
                                     m.samples_per_s));
}

bool training_run::take_batch() {
  std::lock_guard<std::mutex> guard{run_mtx_};
  if (stop_ || exhausted_ || (total_steps_ > 0 && step_ + in_flight_ >= total_steps_)
      || elapsed() > max_seconds_)
    return false;
  ++in_flight_;
  return true;
}

void training_run::put_back_batch() {
  std::lock_guard<std::mutex> guard{run_mtx_};
  --in_flight_;
}

void training_run::work(torch::nn::Module& replica) {
  while (take_batch()) {
    run_pending();  // the averaging thread's reads and writes of the shared model
    auto batch = batches_.next();
    if (!batch) {
      std::lock_guard<std::mutex> guard{run_mtx_};
      --in_flight_;
      exhausted_ = true;
      return;
    }
    bool due_eval = false;
    try {
      auto version = shared_->read(replica);
      auto outcome = task_.step(replica, batch->indices);
      outcome.loss.backward();
      auto applied = shared_->apply(replica, version);
      if (!applied.applied) {
        put_back_batch();
        owner_.update([](trainer_metrics& m) { ++m.stale_dropped; });
        log_.debug("dropped a gradient {} updates stale", applied.staleness);
        continue;
      }
      record(outcome, applied, batch->epoch);
      due_eval = applied.gradients % opt_.eval_every == 0;
      if (outer_ && applied.gradients % owner_.setup.member.options.every == 0)
        outer_step(true);
    } catch (const std::exception& e) {
      put_back_batch();
      owner_.update([](trainer_metrics& m) { ++m.failed_steps; });
      if (stop_)
        continue;  // a stopping node failed the call: no backoff, no warning
      log_.warn("a step was skipped: {}", e.what());
      std::this_thread::sleep_for(failure_backoff);
      continue;
    }
    if (due_eval)
      evaluate();
    checkpoint(false);
  }
}

void training_run::record(const step_outcome& outcome, const shared_parameters::update& applied,
                          size_t epoch) {
  std::lock_guard<std::mutex> guard{run_mtx_};
  --in_flight_;
  step_ = std::max(step_, static_cast<size_t>(applied.gradients));
  owner_.update([&](trainer_metrics& m) {
    bool first = m.step == m.resumed_at;  // no average yet in this process
    m.step = step_;
    m.epoch = std::max(m.epoch, epoch);
    m.samples += static_cast<size_t>(outcome.examples);
    m.tokens += static_cast<size_t>(outcome.tokens);
    m.loss = smoothed(first, m.loss, outcome.loss_value);
    if (outcome.accuracy >= 0)
      m.train_accuracy = smoothed(first, m.train_accuracy, outcome.accuracy);
    if (outcome.balance >= 0)
      m.balance = smoothed(first || m.balance < 0, m.balance, outcome.balance);
    if (outcome.load_peak >= 0)
      m.load_peak = smoothed(first || m.load_peak < 0, m.load_peak, outcome.load_peak);
    auto stale = static_cast<double>(applied.staleness);
    m.staleness = smoothed(first, m.staleness, stale);
    m.max_staleness = std::max(m.max_staleness, static_cast<size_t>(applied.staleness));
    m.elapsed_s = elapsed();
    auto training_s = std::max(1e-9, m.elapsed_s - eval_seconds_);
    m.samples_per_s = static_cast<double>(m.samples) / training_s;
    m.tokens_per_s = static_cast<double>(m.tokens) / training_s;
  });
  if (applied.gradients == 1 || applied.gradients % csv_every == 0)
    csv_row();
  show_progress();
}

void training_run::evaluate() {
  owner_.update([](trainer_metrics& m) { m.state = "evaluating"; });
  auto eval_start = clock_type::now();
  std::optional<double> measured;
  size_t at = 0;
  // No update can land while the shared model is evaluated; workers wait to apply theirs.
  shared_->with_model([&](torch::nn::Module& model) {
    at = owner_.metrics_snapshot().step;
    measured = task_.evaluate(model, held_out_split::validation, opt_.eval_samples, stop_, log_);
  });
  std::lock_guard<std::mutex> guard{run_mtx_};
  evaluated_at_ = std::max(evaluated_at_, at);
  eval_seconds_ += seconds_since(eval_start);
  owner_.update([&](trainer_metrics& m) {
    m.state = "training";
    if (!measured)
      ++m.failed_evals;
    else if (language_model())
      m.held_out_bpc = *measured;
    else
      m.test_accuracy = *measured;
  });
  csv_row(true);  // a row for every evaluation, so the held-out curve has each point
  if (measured && language_model())
    log_.info("step {}: held-out {:.4f} bits per character", at, *measured);
  else if (measured)
    log_.info("step {}: test accuracy {:.2f}%", at, *measured * 100);
  else if (!stop_)
    log_.warn("step {}: the evaluation failed; training goes on", at);
}

void training_run::start_averaging() {
  std::string signature;
  for (const auto& [name, value] : task_.tags())
    if (name != "tokenizer_path")  // where this machine keeps it: no part of the model
      signature += name + "=" + value + ";";
  shared_->with_model([&](torch::nn::Module& model) {
    outer_ = std::make_unique<outer_averaging>(owner_.system, owner_.setup.member, model,
                                               signature, log_);
    outer_->join(model);
  });
  log_.info("averaging {} shared parameters with run '{}' every {} steps ({} on the wire)",
            outer_->elements(), owner_.setup.member.options.run,
            owner_.setup.member.options.every,
            choice_names<vector_encoding_kind>::names[static_cast<size_t>(
              owner_.setup.member.options.compression)]);
  owner_.update([&](trainer_metrics& m) { outer_->report(m); });
}

bool training_run::outer_step(bool overlapped) {
  if (!overlapped) {
    if (round_thread_.joinable())
      round_thread_.join();
    return run_outer_step(false);
  }
  // Rounds keep the run's trainers in step: this one waits (serving the averaging thread's
  // reads and writes of the model) for the previous round to end and for its group to form;
  // only the all-reduce overlaps with training.
  auto began = clock_type::now();
  auto wait_while = [this](const std::atomic<bool>& condition) {
    while (condition && !snapshot_taken_) {
      run_pending();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  };
  snapshot_taken_ = false;
  wait_while(round_running_);
  if (round_thread_.joinable())
    round_thread_.join();
  snapshot_taken_ = false;
  round_running_ = true;
  round_thread_ = std::thread{[this] {
    try {
      run_outer_step(true);
    } catch (const std::exception& e) {
      log_.error("an outer step failed: {}", e.what());
    }
    round_running_ = false;
  }};
  wait_while(round_running_);
  outer_->add_paused(seconds_since(began));
  return true;
}

bool training_run::run_outer_step(bool overlapped) {
  std::lock_guard<std::mutex> one_at_a_time{outer_mtx_};
  size_t step = 0;
  {
    std::lock_guard<std::mutex> guard{run_mtx_};
    step = step_;
  }
  auto samples = owner_.metrics_snapshot().samples;
  if (step == outer_at_)
    return true;
  if (!overlapped)
    owner_.update([](trainer_metrics& m) { m.state = "averaging"; });
  auto access = [this, overlapped](const std::function<void(torch::nn::Module&)>& f) {
    if (overlapped)
      between_steps(f);
    else
      shared_->with_model(f);
  };
  // A failed round leaves outer_at_ as it was: the last outer step, when training ends, then
  // tries again to bring this trainer's local work into the run's model.
  bool averaged = outer_->step(access, static_cast<double>(samples - samples_at_outer_),
                               overlapped, [this] { snapshot_taken_ = true; });
  if (averaged) {
    outer_at_ = step;
    samples_at_outer_ = samples;
  }
  owner_.update([&](trainer_metrics& m) {
    if (!overlapped)
      m.state = "training";
    outer_->report(m);
  });
  return averaged;
}

void training_run::between_steps(const std::function<void(torch::nn::Module&)>& f) {
  std::packaged_task<void()> task{[&] { shared_->with_model(f); }};
  auto done = task.get_future();
  {
    std::lock_guard<std::mutex> guard{pending_mtx_};
    if (workers_running_) {
      pending_.push_back(std::move(task));
      task = {};
    }
  }
  if (task.valid())
    task();
  done.get();  // rethrows what `f` threw
}

void training_run::run_pending() {
  std::deque<std::packaged_task<void()>> tasks;
  {
    std::lock_guard<std::mutex> guard{pending_mtx_};
    tasks.swap(pending_);
  }
  for (auto& t : tasks)
    t();
}

void training_run::workers_done() {
  {
    std::lock_guard<std::mutex> guard{pending_mtx_};
    workers_running_ = false;
  }
  run_pending();
}

trainer_progress training_run::progress() const {
  auto m = owner_.metrics_snapshot();
  trainer_progress out;
  out.step = m.step;
  out.epoch = m.epoch;
  out.samples = m.samples;
  out.tokens = m.tokens;
  out.failed_steps = m.failed_steps;
  out.failed_evals = m.failed_evals;
  out.elapsed_s = elapsed();
  out.eval_s = eval_seconds_;
  out.held_out = language_model() ? m.held_out_bpc : m.test_accuracy;
  return out;
}

void training_run::checkpoint(bool now) {
  if (opt_.checkpoint_dir.empty())
    return;
  trainer_progress at;
  {
    std::lock_guard<std::mutex> guard{run_mtx_};
    if (checkpointing_ || (!now && clock_type::now() - last_checkpoint_ < opt_.checkpoint_period))
      return;
    checkpointing_ = true;
    at = progress();
  }
  auto err = save_trainer_checkpoint(opt_.checkpoint_dir, *shared_, batches_.where(), at,
                                     task_.tags());
  if (err)
    log_.warn("{}", describe(err));
  else
    log_.debug("checkpoint at step {}", at.step);
  std::lock_guard<std::mutex> guard{run_mtx_};
  checkpointing_ = false;
  last_checkpoint_ = clock_type::now();
}

}  // namespace

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
  update([&](trainer_metrics& m) { m.task = std::string{name_of(setup.options.task)}; });
  torch::manual_seed(seed());
  auto task = make_task(system, setup.router, setup.options, setup.moe, *log);
  if (!task)
    return fail(describe(task.error()));
  // The local layers are small and the experts compute remotely: one thread (OpenBLAS's too),
  // so idle BLAS and OpenMP workers do not spin on cores the servers of a local swarm need
  // (measured: OpenBLAS's yielding threads took a third of a trainer's CPU). The dense
  // baselines compute everything here and get every core.
  configure_torch_threads((*task)->computes_locally() ? std::max(1u, std::thread::hardware_concurrency())
                                                      : 1);
  training_run{*this, **task, stop}.run();
}

}  // namespace dmoe
