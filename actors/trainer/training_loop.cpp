#include "actors/trainer/training_loop.hpp"
#include "actors/trainer/training_run.hpp"

namespace dmoe {

namespace training {

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

}  // namespace training

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
  training::training_run{*this, **task, stop}.run();
}

}  // namespace dmoe
