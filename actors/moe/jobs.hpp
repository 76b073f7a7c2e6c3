// The local-only jobs the DMoE module hands to its router (shared_ptr in a CAF message; never
// serialized). The module fills the inputs, the router fills the outputs before it replies; the
// module reads them only after the reply, so the two never touch a job at the same time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <torch/types.h>

#include "actors/moe/routing.hpp"

namespace dmoe::moe {

/// One expert call that answered the forward pass: the backward goes to the same server.
using answered_call = routed_call;

/// Where the time of one job went, in milliseconds.
struct job_timing {
  double routing_ms = 0;  // beam search and DHT lookups, until the first call is sent
  double encode_ms = 0;   // encoding requests (summed over calls)
  double decode_ms = 0;   // decoding replies and copying rows (summed over calls)
  double wait_ms = 0;     // from the first call sent until the job finished
  double total_ms = 0;
  size_t calls = 0;       // expert calls sent, rerouted ones included
  size_t rerouted = 0;    // sample slots moved to a spare expert after a failure
};

struct forward_job {
  // Filled by the module.
  torch::Tensor inputs;               // [B, ..., in_features] float32, contiguous, no grad
                                      // (e.g. [B, T, H] whole sequences to block experts)
  std::vector<torch::Tensor> scores;  // per grid dimension [B, grid[d]] float32 gating scores
  int64_t hidden = 0;                 // the experts' output width
  std::string expert_prefix;          // the grid's name; empty: the router's moe.expert-prefix
  // Filled by the router.
  torch::Tensor outputs;              // [B, k_best, ..., hidden]; zeros where none answered
  torch::Tensor mask;                 // [B, k_best] bool: slot answered
  torch::Tensor coords;               // [B, k_best, dims] int64: the expert of each slot, -1 if none
  std::vector<answered_call> answered;
  size_t samples_below_k_min = 0;     // only non-zero with allow_zero_outputs
  job_timing timing;
};

struct backward_job {
  std::shared_ptr<const forward_job> forward;  // its inputs and answered calls
  torch::Tensor grad_outputs;                  // [B, k_best, ..., hidden]
  // Filled by the router.
  torch::Tensor grad_inputs;                   // like inputs; missing answers add zero
  job_timing timing;
};

/// `leading` followed by an expert answer's shape for a job's inputs: their middle dimensions
/// (e.g. tokens), then `hidden`. output_shape(job, {B, k}) is job.outputs' shape.
std::vector<int64_t> output_shape(const forward_job& job, std::vector<int64_t> leading);

using forward_job_ptr = std::shared_ptr<forward_job>;
using backward_job_ptr = std::shared_ptr<backward_job>;

}  // namespace dmoe::moe

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dmoe::moe::forward_job_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dmoe::moe::backward_job_ptr)
