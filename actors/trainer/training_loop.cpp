#include "actors/trainer/training_loop.hpp"

#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <thread>

#include <fmt/format.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/adam.h>
#include <ATen/Parallel.h>
#include <torch/utils.h>

#include "actors/trainer/model.hpp"
#include "messages/errors.hpp"
#include "runtime/data/fashion_mnist.hpp"
#include "runtime/logging.hpp"
#include "runtime/progress.hpp"

namespace dmoe {

namespace {

using clock_type = std::chrono::steady_clock;

constexpr int64_t eval_batch_size = 1000;
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
/// to 10% of it, which gains the last points of accuracy a constant rate leaves.
double scheduled_rate(const trainer_options& opt, size_t step, size_t total) {
  if (opt.lr_schedule != "cosine" || total == 0)
    return opt.learning_rate;
  constexpr double floor = 0.1;
  auto progress = std::min(1.0, static_cast<double>(step) / static_cast<double>(total));
  return opt.learning_rate * (floor + (1 - floor) * 0.5 * (1 + std::cos(M_PI * progress)));
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

  double evaluate(DMoEClassifier& model, const tensors& test) {
    torch::NoGradGuard no_grad;
    model->eval();
    int64_t correct = 0;
    int64_t n = test.images.size(0);
    if (setup.options.eval_samples > 0)
      n = std::min(n, static_cast<int64_t>(setup.options.eval_samples));
    for (int64_t begin = 0; begin < n; begin += eval_batch_size) {
      auto end = std::min(n, begin + eval_batch_size);
      auto logits = model->forward(test.images.slice(0, begin, end));
      correct += logits.argmax(1).eq(test.labels.slice(0, begin, end)).sum().item<int64_t>();
    }
    model->train();
    return static_cast<double>(correct) / static_cast<double>(n);
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
  if (!test_set) {
    auto why = describe(test_set.error());
    log->error("cannot load Fashion-MNIST from '{}': {}", opt.data_dir, why);
    update([&](trainer_metrics& m) {
      m.state = "failed";
      m.error = why;
    });
    return;
  }
  // The local layers are small and the experts compute remotely: one intra-op thread, so idle
  // OpenMP workers do not spin on cores the servers of a local swarm need.
  at::set_num_threads(1);
  torch::manual_seed(seed());
  auto n = train_set->images.size(0);
  auto steps_per_epoch = static_cast<size_t>((n + opt.batch_size - 1) / opt.batch_size);
  size_t total_steps = opt.epochs > 0 ? opt.epochs * steps_per_epoch : 0;
  if (opt.max_steps > 0)
    total_steps = total_steps > 0 ? std::min(total_steps, opt.max_steps) : opt.max_steps;
  DMoEClassifier model{system, setup.router, opt, setup.moe, train_set->images.size(1),
                       data::fashion_mnist_classes};
  torch::optim::Adam optimizer{model->parameters(), torch::optim::AdamOptions(opt.learning_rate)};
  std::ofstream csv;
  if (!opt.metrics_csv.empty()) {
    csv.open(opt.metrics_csv, std::ios::trunc);
    if (!csv)
      log->warn("cannot write metrics to '{}'; going on without", opt.metrics_csv);
    csv << "time_s,step,epoch,samples,loss,train_accuracy,test_accuracy,samples_per_s,"
           "failed_steps\n";
  }
  auto csv_row = [&] {
    if (!csv)
      return;
    auto m = metrics_snapshot();
    csv << fmt::format("{:.2f},{},{},{},{:.5f},{:.4f},{},{:.1f},{}\n", m.elapsed_s, m.step,
                       m.epoch, m.samples, m.loss, m.train_accuracy,
                       m.test_accuracy < 0 ? std::string{} : fmt::format("{:.4f}", m.test_accuracy),
                       m.samples_per_s, m.failed_steps);
    csv.flush();
  };
  progress_bar bar{setup.name, total_steps, opt.progress};
  update([&](trainer_metrics& m) {
    m.state = "training";
    m.total_steps = total_steps;
  });
  log->info("training: {} train / {} test images, batch {}, {} steps per epoch, {} steps",
            n, test_set->images.size(0), opt.batch_size, steps_per_epoch,
            total_steps > 0 ? std::to_string(total_steps) : "unlimited");
  auto start = clock_type::now();
  double eval_seconds = 0;
  size_t step = 0;
  size_t evaluated_at = 0;
  auto run_eval = [&] {
    evaluated_at = step;
    update([](trainer_metrics& m) { m.state = "evaluating"; });
    auto eval_start = clock_type::now();
    auto accuracy = evaluate(model, *test_set);
    eval_seconds += seconds_since(eval_start);
    update([&](trainer_metrics& m) {
      m.state = "training";
      m.test_accuracy = accuracy;
    });
    log->info("step {}: test accuracy {:.2f}%", metrics_snapshot().step, accuracy * 100);
  };
  for (size_t epoch = 0; opt.epochs == 0 || epoch < opt.epochs; ++epoch) {
    auto order = torch::randperm(n, torch::kInt64);
    for (int64_t begin = 0; begin < n; begin += static_cast<int64_t>(opt.batch_size)) {
      if (stop || (total_steps > 0 && step >= total_steps)
          || seconds_since(start) > std::chrono::duration<double>(opt.max_time).count())
        goto finished;
      auto idx = order.slice(0, begin, std::min<int64_t>(n, begin + opt.batch_size));
      auto images = train_set->images.index_select(0, idx);
      auto labels = train_set->labels.index_select(0, idx);
      try {
        for (auto& group : optimizer.param_groups())
          static_cast<torch::optim::AdamOptions&>(group.options())
            .lr(scheduled_rate(opt, step, total_steps));
        optimizer.zero_grad();
        auto logits = model->forward(images);
        auto loss = torch::nn::functional::cross_entropy(logits, labels);
        loss.backward();
        optimizer.step();
        auto accuracy = logits.argmax(1).eq(labels).to(torch::kFloat32).mean().item<double>();
        auto loss_value = loss.item<double>();
        ++step;
        update([&](trainer_metrics& m) {
          bool first = m.step == 0;
          m.step = step;
          m.epoch = epoch;
          m.samples += static_cast<size_t>(idx.size(0));
          m.loss = first ? loss_value : (1 - smoothing) * m.loss + smoothing * loss_value;
          m.train_accuracy =
            first ? accuracy : (1 - smoothing) * m.train_accuracy + smoothing * accuracy;
          m.elapsed_s = seconds_since(start);
          m.samples_per_s = m.samples / std::max(1e-9, m.elapsed_s - eval_seconds);
        });
      } catch (const std::exception& e) {
        update([](trainer_metrics& m) { ++m.failed_steps; });
        log->warn("step {} skipped: {}", step, e.what());
        std::this_thread::sleep_for(failure_backoff);
        continue;
      }
      if (step % opt.eval_every == 0)
        run_eval();
      if (step == 1 || step % csv_every == 0)
        csv_row();
      auto m = metrics_snapshot();
      bar.update(step, fmt::format("loss {:.3f} acc {:.1f}% test {} {:.0f} samples/s", m.loss,
                                   m.train_accuracy * 100,
                                   m.test_accuracy < 0 ? std::string{"-"}
                                                       : fmt::format("{:.1f}%", m.test_accuracy * 100),
                                   m.samples_per_s));
    }
  }
finished:
  bar.finish();
  if (step > 0 && evaluated_at != step)
    run_eval();
  update([&](trainer_metrics& m) {
    m.elapsed_s = seconds_since(start);
    m.state = "done";
  });
  csv_row();
  auto m = metrics_snapshot();
  log->info("done: {} steps, {} samples in {:.1f} s ({:.0f} samples/s), loss {:.4f}, "
            "test accuracy {:.2f}%, {} failed steps",
            m.step, m.samples, m.elapsed_s, m.samples_per_s, m.loss, m.test_accuracy * 100,
            m.failed_steps);
}

}  // namespace dmoe
