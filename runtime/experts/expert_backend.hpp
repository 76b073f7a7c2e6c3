// One expert's backend: its module, its own optimizer, gradient clipping, kept activations and
// checkpoints.
//
// Calls come in merged batches: several callers' inputs, rows of the first call first.
// Backward needs the forward's activations. Types that keep them (keeps_activations(), the
// built-in ffn) keep each forward call's activations in an activation_store under a memory
// budget and a time to live, found again by the content of the inputs the backward call
// carries; a backward whose activations are gone (evicted, expired, computed by another
// replica, or never kept because the budget is 0) RECOMPUTES the forward from those inputs, so
// a trainer may call backward late or elsewhere and the answer stays correct. Kept activations
// spare a quarter of the work of a forward+backward pair (the forward's 16 h^2 FLOPs per
// sample of ffn's 64) and cost 10 h floats per sample while the backward is awaited; with the
// default budget (server.activation-memory-mb, 1024 MiB per server, shared evenly by its
// experts) a server of 16 experts at h = 1024 keeps about 5 calls of 256 rows per expert.
// When the weights moved between a forward and its backward (other callers' updates), the
// backward uses the kept activations for the weight gradients and the current weights for the
// chain rule; recomputing would use the current weights for both. Other types always recompute
// with autograd.
//
// Each backward batch adds its parameter gradients to a sum, clips its global norm
// (clip_grad_norm, 0 = off; the scale is folded into the step) and applies the expert's own
// optimizer step at once (Adam in one pass per parameter, fused_adam.hpp): asynchronous
// SGD, where a gradient may be computed from weights that are already a few updates old.
// With warmup_updates the rate rises linearly over the expert's first updates: the first
// gradients of a fresh model all point the same way, and when many trainers' calls are in
// flight at once the stale ones overshoot at a full rate.
// With accumulate_samples = N the parameter gradients of backward batches are summed until
// they cover at least N samples, and only then clipped and applied (as if those batches had
// been merged into one): how often an expert moves then depends on the samples it learns
// from, not on how its calls happen to arrive. Without it an idle server (e.g. behind a
// 1 s round trip) answers every small call alone and steps once per call, several times as
// often per sample as a busy one that merges them; measured, that made Adam diverge on the
// convergence experiment where the busy server converged. Every backward still returns its
// gradients w.r.t. the inputs at once. A partial sum is not checkpointed.
//
// Every public member is thread-safe (one mutex per expert): forward, backward and checkpoints
// of one expert never overlap, different experts run in parallel.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <torch/optim/optimizer.h>

#include "runtime/expert_codec.hpp"
#include "runtime/experts/activation_store.hpp"
#include "runtime/experts/expert_module.hpp"
#include "runtime/options.hpp"

namespace dmoe {

struct optimizer_settings {
  optimizer_kind kind = optimizer_kind::adam;  // sgd: with momentum
  double learning_rate = 1e-3;
  double momentum = 0.9;      // sgd only
  double weight_decay = 0.0;  // L2 penalty added to the gradient, as torch's Adam and SGD do
  double clip_grad_norm = 1.0;
  uint64_t warmup_updates = 0;  // the rate rises linearly over the first updates (0: none)
  uint64_t accumulate_samples = 0;  // an update waits for this many samples' gradients
  double outlier_factor = 0;  // Adam: clip each gradient element of an update to this many
                              // times its running RMS (fused_adam.hpp; 0: off)

  /// The learning rate of the update after `updates` updates.
  double rate_after(uint64_t updates) const {
    if (warmup_updates == 0 || updates >= warmup_updates)
      return learning_rate;
    return learning_rate * static_cast<double>(updates + 1) / static_cast<double>(warmup_updates);
  }
};

optimizer_settings optimizer_settings_of(const server_options& options);

/// How much of the forward's activations an expert keeps for its backward calls.
struct activation_settings {
  size_t budget_bytes = 0;  // 0: none, every backward recomputes its forward
  std::chrono::steady_clock::duration ttl = std::chrono::seconds(30);
};

/// The activation settings of each of `experts` experts of a server with these options.
activation_settings activation_settings_of(const server_options& options, size_t experts);

/// Activation counters of one expert (plain atomics: read without waiting for its mutex).
struct activation_counters {
  std::atomic<uint64_t> kept{0};        // forward calls whose activations were kept
  std::atomic<uint64_t> used{0};        // backward calls that used kept activations
  std::atomic<uint64_t> recomputed{0};  // backward calls that recomputed their forward
  std::atomic<uint64_t> evicted{0};     // kept calls dropped for the memory budget
  std::atomic<uint64_t> expired{0};     // kept calls dropped after the time to live
  std::atomic<uint64_t> bytes{0};       // memory the kept activations hold now
};

/// The optimizer an expert uses over `parameters`; tests build the same one locally.
caf::expected<std::unique_ptr<torch::optim::Optimizer>>
make_optimizer(const optimizer_settings& settings, std::vector<torch::Tensor> parameters);

class expert_backend {
public:
  /// A new expert `id` of registry type `type`, initialized from `seed` (see expert_seed).
  static caf::expected<std::shared_ptr<expert_backend>>
  create(std::string id, const std::string& type, int64_t hidden, optimizer_settings optimizer,
         uint64_t seed, activation_settings activations = {});

  using clock = std::chrono::steady_clock;
  /// The inputs (or gradients) of the calls of one merged batch, in batch order.
  using call_tensors = std::vector<const std::vector<torch::Tensor>*>;

  /// Id, type and schemas; never changes.
  const expert_info& info() const {
    return info_;
  }

  /// Outputs of the merged calls without autograd (rows in call order); keeps each call's
  /// activations when the type and the budget allow. Inputs must already satisfy check_forward.
  caf::expected<std::vector<torch::Tensor>> forward(const call_tensors& calls, clock::time_point now);

  /// Gradients w.r.t. the merged calls' inputs, from their kept activations or a recomputed
  /// forward; this batch's parameter gradients are added to the sum of the next optimizer
  /// step, taken now if the sum covers accumulate_samples (every batch without). A non-finite
  /// gradient norm skips that step, drops the sum and gives an errc::non_finite error. With
  /// Adam and an outlier factor, each gradient element is clipped to that factor times its RMS
  /// (fused_adam.hpp): an update is bounded, never refused for its size.
  caf::expected<std::vector<torch::Tensor>> backward(const call_tensors& inputs,
                                                     const call_tensors& grad_outputs,
                                                     clock::time_point now);

  /// One call, now.
  caf::expected<std::vector<torch::Tensor>> forward(const std::vector<torch::Tensor>& inputs);
  caf::expected<std::vector<torch::Tensor>> backward(const std::vector<torch::Tensor>& inputs,
                                                     const std::vector<torch::Tensor>& grad_outputs);

  const activation_counters& activations() const {
    return activation_counters_;
  }

  /// Writes parameters, buffers, optimizer state and the update count to `path` atomically
  /// (`path`.tmp, flushed to disk, renamed over `path`, the directory flushed).
  /// `updates_saved` (optional) gets the update count the checkpoint holds.
  caf::error save(const std::string& path, uint64_t* updates_saved = nullptr);

  /// Restores what save wrote. Nothing changes unless everything in the file fits this expert
  /// (type, optimizer kind, every tensor's shape, optimizer state shaped like its parameters)
  /// and every value is finite; errc::invalid_argument says what did not.
  caf::error load(const std::string& path);

  /// Optimizer steps applied so far (restored by load).
  uint64_t updates() const {
    return updates_.load();
  }

  /// Updates with elements clipped by the outlier rule (optimizer_settings::outlier_factor).
  uint64_t clipped_updates() const {
    return clipped_updates_.load();
  }
  /// Samples whose gradients wait in the sum for the next update.
  uint64_t pending_samples() const {
    return pending_samples_.load();
  }

  /// Direct access for tests and benchmarks; not synchronized with the calls above.
  expert_module& module() {
    return *module_;
  }
  torch::optim::Optimizer& optimizer() {
    return *optimizer_;
  }

private:
  expert_backend(expert_info info, std::shared_ptr<expert_module> module,
                 std::unique_ptr<torch::optim::Optimizer> optimizer, optimizer_settings settings,
                 activation_settings activations);

  /// The activations of the calls' rows, kept or recomputed, in call order.
  std::vector<torch::Tensor> activations_of(const call_tensors& inputs, clock::time_point now);
  /// Backward through autograd with a recomputed forward (types that keep no activations).
  std::vector<torch::Tensor> backward_recomputing(const std::vector<torch::Tensor>& inputs,
                                                  const std::vector<torch::Tensor>& grad_outputs);
  void publish_activation_counters();

  /// Clips and applies the summed gradients (the caller holds the mutex).
  caf::error step_with_sum();
  /// Forgets the summed gradients.
  void drop_sum();

  expert_info info_;
  optimizer_settings settings_;
  std::mutex mutex_;
  std::shared_ptr<expert_module> module_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  activation_store kept_;
  activation_counters activation_counters_;
  std::atomic<uint64_t> updates_{0};
  std::atomic<uint64_t> pending_samples_{0};
  std::atomic<uint64_t> clipped_updates_{0};
};

}  // namespace dmoe
