// The trainer's evaluation on the test set. The model's DMoE layers call remote experts, so a
// test batch can fail like a training step: it is tried again a few times before the
// evaluation gives up (the training loop counts that and trains on).
#pragma once

#include <atomic>
#include <optional>

#include <spdlog/logger.h>
#include <torch/types.h>

#include "actors/trainer/model.hpp"

namespace dmoe {

/// Test batches of this many images; a server's max-batch-size below it splits the calls.
constexpr int64_t eval_batch_size = 1000;
/// Tries of one test batch before the evaluation gives up.
constexpr int eval_attempts = 3;

/// The share of the first `samples` test images (0: all) `model` classifies right; nullopt when
/// a batch failed eval_attempts times or `stop` was set.
std::optional<double> test_accuracy(DMoEClassifierImpl& model, const torch::Tensor& images,
                                    const torch::Tensor& labels, size_t samples,
                                    const std::atomic<bool>& stop, spdlog::logger& log);

}  // namespace dmoe
