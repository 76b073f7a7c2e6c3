#include "runtime/experts/request_check.hpp"

#include <string>

#include "messages/errors.hpp"

namespace dmoe {

namespace {

std::string shape_text(c10::IntArrayRef shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

std::string shape_text(const std::vector<int64_t>& shape) {
  return shape_text(c10::IntArrayRef{shape});
}

// `free_from`: the tensor whose dimensions free (-1) schema dimensions must equal; null = any.
caf::error check_tensors(const std::vector<torch::Tensor>& ts,
                         const std::vector<tensor_schema>& schemas, const char* what,
                         const torch::Tensor* free_from, int64_t batch) {
  if (ts.size() != schemas.size())
    return make_error(errc::shape_mismatch, std::string("expected ") + std::to_string(schemas.size())
                                              + " " + what + " tensor(s), got "
                                              + std::to_string(ts.size()));
  for (size_t i = 0; i < ts.size(); ++i) {
    const auto& t = ts[i];
    const auto& s = schemas[i];
    auto where = std::string(what) + " " + std::to_string(i);
    if (t.scalar_type() != s.dtype)
      return make_error(errc::dtype_mismatch, where + " has dtype "
                                                + std::string(c10::toString(t.scalar_type()))
                                                + ", expected "
                                                + std::string(c10::toString(s.dtype)));
    if (t.dim() != static_cast<int64_t>(s.shape.size()))
      return make_error(errc::shape_mismatch, where + " has shape " + shape_text(t.sizes())
                                                + ", expected " + shape_text(s.shape));
    if (t.size(0) != batch)
      return make_error(errc::shape_mismatch, where + " has batch size " + std::to_string(t.size(0))
                                                + ", expected " + std::to_string(batch));
    for (int64_t d = 1; d < t.dim(); ++d) {
      auto want = s.shape[d];
      if (want < 0 && free_from && d < free_from->dim())
        want = free_from->size(d);
      if (want >= 0 && t.size(d) != want)
        return make_error(errc::shape_mismatch,
                          where + " has shape " + shape_text(t.sizes()) + ", dimension "
                            + std::to_string(d) + " must be " + std::to_string(want)
                            + " (schema " + shape_text(s.shape) + ")");
    }
  }
  return caf::none;
}

caf::error check_batch(const std::vector<torch::Tensor>& inputs, size_t max_batch_size) {
  auto batch = inputs[0].size(0);
  if (batch == 0)
    return make_error(errc::invalid_argument, "empty batch");
  if (static_cast<uint64_t>(batch) > max_batch_size)
    return make_error(errc::limit_exceeded, "batch of " + std::to_string(batch)
                                              + " samples is over the server's limit of "
                                              + std::to_string(max_batch_size));
  return caf::none;
}

// Free (-1) dimensions beyond the batch grow a call's compute without bound (attention is
// quadratic in tokens): each must stay within max_tokens.
caf::error check_tokens(const std::vector<torch::Tensor>& ts,
                        const std::vector<tensor_schema>& schemas, size_t max_tokens) {
  if (max_tokens == 0)
    return caf::none;
  for (size_t i = 0; i < ts.size(); ++i)
    for (int64_t d = 1; d < ts[i].dim(); ++d)
      if (schemas[i].shape[d] < 0 && static_cast<uint64_t>(ts[i].size(d)) > max_tokens)
        return make_error(errc::limit_exceeded,
                          "input " + std::to_string(i) + " has " + std::to_string(ts[i].size(d))
                            + " in dimension " + std::to_string(d)
                            + ", over the server's limit of " + std::to_string(max_tokens)
                            + " tokens (server.max-tokens)");
  return caf::none;
}

uint64_t schema_bytes(const std::vector<tensor_schema>& schemas, size_t max_batch_size,
                      size_t max_tokens) {
  uint64_t total = 0;
  for (const auto& s : schemas) {
    uint64_t elements = max_batch_size;
    for (size_t d = 1; d < s.shape.size(); ++d)
      elements *= static_cast<uint64_t>(s.shape[d] < 0 ? static_cast<int64_t>(max_tokens) : s.shape[d]);
    total += elements * c10::elementSize(s.dtype);
  }
  return total;
}

}  // namespace

uint64_t max_call_tensor_bytes(const expert_info& info, size_t max_batch_size,
                               size_t max_tokens) {
  return schema_bytes(info.inputs, max_batch_size, max_tokens)
         + schema_bytes(info.outputs, max_batch_size, max_tokens);
}

int64_t batch_size_of(const std::vector<torch::Tensor>& inputs) {
  return inputs.empty() || inputs[0].dim() == 0 ? 0 : inputs[0].size(0);
}

caf::error check_forward(const expert_info& info, const std::vector<torch::Tensor>& inputs,
                         size_t max_batch_size, size_t max_tokens) {
  if (inputs.size() != info.inputs.size())
    return check_tensors(inputs, info.inputs, "input", nullptr, 0);
  if (inputs.empty() || inputs[0].dim() == 0)
    return make_error(errc::shape_mismatch, "the first input needs a batch dimension");
  if (auto err = check_tensors(inputs, info.inputs, "input", nullptr, batch_size_of(inputs)))
    return err;
  if (auto err = check_tokens(inputs, info.inputs, max_tokens))
    return err;
  return check_batch(inputs, max_batch_size);
}

caf::error check_backward(const expert_info& info, const std::vector<torch::Tensor>& inputs,
                          const std::vector<torch::Tensor>& grad_outputs, size_t max_batch_size,
                          size_t max_tokens) {
  if (auto err = check_forward(info, inputs, max_batch_size, max_tokens))
    return err;
  return check_tensors(grad_outputs, info.outputs, "grad_output", &inputs[0],
                       batch_size_of(inputs));
}

std::vector<int64_t> merge_key(const std::vector<torch::Tensor>& a,
                               const std::vector<torch::Tensor>& b) {
  std::vector<int64_t> key;
  for (const auto* group : {&a, &b})
    for (const auto& t : *group) {
      key.push_back(t.dim());
      for (int64_t d = 1; d < t.dim(); ++d)
        key.push_back(t.size(d));
    }
  return key;
}

}  // namespace dmoe
