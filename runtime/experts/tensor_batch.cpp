#include "runtime/experts/tensor_batch.hpp"

namespace dmoe {

std::vector<torch::Tensor> concat_calls(const std::vector<const std::vector<torch::Tensor>*>& calls) {
  if (calls.size() == 1)
    return *calls.front();
  std::vector<torch::Tensor> out;
  if (calls.empty())
    return out;
  for (size_t i = 0; i < calls.front()->size(); ++i) {
    std::vector<torch::Tensor> parts;
    parts.reserve(calls.size());
    for (const auto* call : calls)
      parts.push_back((*call)[i]);
    out.push_back(torch::cat(parts, 0));
  }
  return out;
}

std::vector<std::vector<torch::Tensor>> split_calls(const std::vector<torch::Tensor>& merged,
                                                    const std::vector<int64_t>& sizes) {
  std::vector<std::vector<torch::Tensor>> out(sizes.size());
  for (const auto& t : merged) {
    int64_t offset = 0;
    for (size_t c = 0; c < sizes.size(); ++c) {
      out[c].push_back(t.narrow(0, offset, sizes[c]));
      offset += sizes[c];
    }
  }
  return out;
}

}  // namespace dmoe
