// Checks an expert call's tensors against the expert's schema (see expert_module.hpp for the
// conventions) before it is queued, so one caller's bad request never fails a merged batch.
#pragma once

#include <cstdint>
#include <vector>

#include <caf/error.hpp>

#include "runtime/expert_codec.hpp"

namespace dmoe {

/// Errors: shape_mismatch (count, rank, a fixed dimension, batch sizes that differ between the
/// tensors, free output dimensions that differ from the first input's), dtype_mismatch,
/// invalid_argument (empty batch), limit_exceeded (batch over `max_batch_size`, a free input
/// dimension such as a transformer's tokens over `max_tokens`; 0 = no token limit).
caf::error check_forward(const expert_info& info, const std::vector<torch::Tensor>& inputs,
                         size_t max_batch_size, size_t max_tokens = 0);

caf::error check_backward(const expert_info& info, const std::vector<torch::Tensor>& inputs,
                          const std::vector<torch::Tensor>& grad_outputs, size_t max_batch_size,
                          size_t max_tokens = 0);

/// The largest valid call to this expert as tensor bytes: a backward call of max_batch_size
/// samples (inputs and output gradients), free dimensions at max_tokens. A server takes no
/// bigger message (plus framing, see server.hpp) instead of the node-wide max-message-bytes.
uint64_t max_call_tensor_bytes(const expert_info& info, size_t max_batch_size, size_t max_tokens);

/// Samples in a checked call (dimension 0 of its first input).
int64_t batch_size_of(const std::vector<torch::Tensor>& inputs);

/// Every non-batch dimension of the tensors, in order: calls may share a batch only when their
/// keys are equal (e.g. transformer calls with different token counts may not).
std::vector<int64_t> merge_key(const std::vector<torch::Tensor>& a,
                               const std::vector<torch::Tensor>& b = {});

}  // namespace dmoe
