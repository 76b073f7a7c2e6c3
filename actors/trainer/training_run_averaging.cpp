// A training run's outer steps: averaging its shared parameters with the run's other trainers
// on a thread of its own while the workers train on (training_run.hpp).
#include "actors/trainer/training_run.hpp"

namespace dmoe::training {

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
  // Training goes on while the round's group forms and while it averages; only a round still
  // under way when the next is due holds this trainer (serving the averaging thread's reads and
  // writes of the model meanwhile), which keeps a fast trainer within `every` steps of its group.
  auto began = clock_type::now();
  while (round_running_) {
    run_pending();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (round_thread_.joinable())
    round_thread_.join();
  round_running_ = true;
  round_thread_ = std::thread{[this] {
    try {
      run_outer_step(true);
    } catch (const std::exception& e) {
      log_.error("an outer step failed: {}", e.what());
    }
    round_running_ = false;
  }};
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
                               overlapped);
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

}  // namespace dmoe::training
