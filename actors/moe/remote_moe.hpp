// dmoe::RemoteMixtureOfExperts: a Mixture-of-Experts layer for ordinary LibTorch models whose
// experts live on expert servers found through the DHT (Learning@home's DMoE layer).
//
//   forward(x [B, in_features]) -> [B, hidden], or
//   forward(x [B, T, in_features]) -> [B, T, hidden]: whole sequences to sequence experts such as
//     causal-transformer blocks, each gated on its first position (causal: no position learns
//     from the gate about later tokens)
//     1. gating: one Linear(in_features, grid[d]) per grid dimension gives each coordinate a
//        score; an expert's score is the sum of its coordinates' scores;
//     2. the router (router.hpp) beam-searches the DHT for each sample's k_best live experts and
//        calls them with x (a custom autograd function: its backward sends the grad rows to the
//        experts that answered and returns d loss / d x);
//     3. the answers are combined with a softmax over the answering experts' scores (experts that
//        failed or came late are left out and the weights renormalised), so the gating layers
//        get their gradient through ordinary torch ops.
//   It blocks the calling (trainer) thread on the router with a scoped_actor; never call it from
//   inside an actor.
//
// The knobs are moe_options (runtime/options.hpp); defaults: grid {4, 4}, k_best 4, k_min 1,
// forward_timeout 5 s, timeout_after_k_min 1 s, backward_k_min 1, backward_timeout 5 s,
// allow_zero_outputs false (fewer than k_min answers throws moe_call_error), directory_cache 2 s.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "actors/moe/jobs.hpp"
#include "actors/moe/supervisor.hpp"
#include "runtime/options.hpp"

namespace dmoe {

/// A forward or backward through the router failed (e.g. fewer than k_min experts answered).
class moe_call_error : public std::runtime_error {
public:
  explicit moe_call_error(caf::error err);
  const caf::error& error() const {
    return error_;
  }

private:
  caf::error error_;
};

/// Extra time the module waits for the router beyond the job's own timeout before giving up.
constexpr caf::timespan router_reply_margin = std::chrono::seconds(5);
static_assert(moe::supervisor_reply_margin < router_reply_margin,
              "the supervisor must fail a call it holds before the module stops waiting for it");

/// What the layer's last calls did (for benchmarks and logs).
struct moe_layer_report {
  moe::job_timing forward;
  moe::job_timing backward;
  size_t answered_slots = 0;  // of B * k_best in the last forward
  size_t samples_below_k_min = 0;
};

class RemoteMixtureOfExpertsImpl : public torch::nn::Module {
public:
  RemoteMixtureOfExpertsImpl(caf::actor_system& system, moe::router_actor router, int64_t in_features,
                             int64_t hidden, moe_options options);

  torch::Tensor forward(torch::Tensor x);

  /// The gating projection of grid dimension d.
  torch::nn::Linear gate(size_t d) const {
    return gates_.at(d);
  }

  const moe_options& options() const {
    return options_;
  }

  /// The previous forward's chosen experts: [B, k_best, dims] coordinates (-1: no answer) and
  /// [B, k_best] answered mask.
  torch::Tensor last_coords() const {
    return last_coords_;
  }
  torch::Tensor last_mask() const {
    return last_mask_;
  }
  /// The previous forward's gate logits, one [B, grid[d]] per dimension (part of its graph).
  const std::vector<torch::Tensor>& last_gate_logits() const {
    return last_logits_;
  }

  const moe_layer_report& report() const {
    return *report_;
  }

private:
  caf::actor_system* system_;
  moe::router_actor router_;
  int64_t in_features_;
  int64_t hidden_;
  moe_options options_;
  std::vector<torch::nn::Linear> gates_;
  torch::Tensor last_coords_;
  torch::Tensor last_mask_;
  std::vector<torch::Tensor> last_logits_;
  std::shared_ptr<moe_layer_report> report_ = std::make_shared<moe_layer_report>();
};

TORCH_MODULE(RemoteMixtureOfExperts);

}  // namespace dmoe
