// Native forms of expert calls (schema/expert.capnp) and their codecs.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include <torch/types.h>

#include "messages/payload.hpp"
#include "messages/schema/tensor.capnp.h"

namespace dmoe {

struct forward_call {
  std::string expert_id;
  std::vector<torch::Tensor> inputs;
};

struct backward_call {
  std::string expert_id;
  std::vector<torch::Tensor> inputs;
  std::vector<torch::Tensor> grad_outputs;
};

struct info_call {
  std::string expert_id;
};

using expert_call = std::variant<forward_call, backward_call, info_call>;

/// What an expert takes or returns; -1 in the first dimension stands for the batch size.
struct tensor_schema {
  torch::ScalarType dtype = torch::kFloat32;
  std::vector<int64_t> shape;
};

struct expert_info {
  std::string expert_id;
  std::string expert_type;
  std::vector<tensor_schema> inputs;
  std::vector<tensor_schema> outputs;
  uint64_t max_batch_size = 0;  // most rows per call the server takes; 0: not said
};

struct forward_result {
  std::vector<torch::Tensor> outputs;
};

struct backward_result {
  std::vector<torch::Tensor> grad_inputs;
};

using expert_reply = std::variant<forward_result, backward_result, expert_info, caf::error>;

payload encode(const expert_call& call, wire::Compression compression = wire::Compression::NONE);
payload encode(const expert_reply& reply, wire::Compression compression = wire::Compression::NONE);

/// Decoded tensors alias the moved-in payload (no copy). Expert ids are validated.
caf::expected<expert_call> decode_expert_call(payload&& in, const wire_limits& limits = {});
caf::expected<expert_reply> decode_expert_reply(payload&& in, const wire_limits& limits = {});

}  // namespace dmoe
