#include "actors/moe/call_reply.hpp"

#include <variant>
#include <vector>

#include <fmt/format.h>

#include "messages/errors.hpp"
#include "runtime/expert_codec.hpp"

namespace dmoe::moe {

caf::expected<torch::Tensor> decode_call_reply(payload reply, const wire_limits& limits,
                                               call_direction direction,
                                               const std::vector<int64_t>& shape) {
  auto decoded = decode_expert_reply(std::move(reply), limits);
  if (!decoded)
    return decoded.error();
  if (auto* err = std::get_if<caf::error>(&*decoded))
    return *err;
  bool forward = direction == call_direction::forward;
  const std::vector<torch::Tensor>* tensors = nullptr;
  if (auto* f = std::get_if<forward_result>(&*decoded); f != nullptr && forward)
    tensors = &f->outputs;
  else if (auto* b = std::get_if<backward_result>(&*decoded); b != nullptr && !forward)
    tensors = &b->grad_inputs;
  const char* what = forward ? "expert output" : "input gradient";
  if (tensors == nullptr || tensors->size() != 1)
    return make_error(errc::malformed, fmt::format("expected one {}", what));
  const auto& t = tensors->front();
  if ((!shape.empty() && t.sizes() != c10::IntArrayRef(shape)) || t.scalar_type() != torch::kFloat32)
    return make_error(errc::shape_mismatch, fmt::format("{} must be [{}] float32, not [{}]", what,
                                                        fmt::join(shape, ", "),
                                                        fmt::join(t.sizes(), ", ")));
  return t;
}

}  // namespace dmoe::moe
