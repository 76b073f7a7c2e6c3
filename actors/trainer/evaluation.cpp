#include "actors/trainer/evaluation.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <torch/utils.h>

namespace dmoe {

namespace {

constexpr auto retry_pause = std::chrono::milliseconds(500);

/// Restores training mode however the evaluation ends.
struct eval_mode {
  DMoEClassifierImpl& model;
  explicit eval_mode(DMoEClassifierImpl& m) : model(m) {
    model.eval();
  }
  ~eval_mode() {
    model.train();
  }
};

}  // namespace

std::optional<double> test_accuracy(DMoEClassifierImpl& model, const torch::Tensor& images,
                                    const torch::Tensor& labels, size_t samples,
                                    const std::atomic<bool>& stop, spdlog::logger& log) {
  torch::NoGradGuard no_grad;
  eval_mode mode{model};
  auto n = images.size(0);
  if (samples > 0)
    n = std::min(n, static_cast<int64_t>(samples));
  int64_t correct = 0;
  for (int64_t begin = 0; begin < n; begin += eval_batch_size) {
    auto end = std::min(n, begin + eval_batch_size);
    std::optional<int64_t> right;
    for (int attempt = 1; attempt <= eval_attempts && !right && !stop; ++attempt) {
      try {
        auto logits = model.forward(images.slice(0, begin, end));
        right = logits.argmax(1).eq(labels.slice(0, begin, end)).sum().item<int64_t>();
      } catch (const std::exception& e) {
        log.warn("evaluation batch {}..{} failed (attempt {} of {}): {}", begin, end, attempt,
                 eval_attempts, e.what());
        if (attempt < eval_attempts)
          std::this_thread::sleep_for(retry_pause);
      }
    }
    if (!right)
      return std::nullopt;
    correct += *right;
  }
  return static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(n, 1));
}

}  // namespace dmoe
