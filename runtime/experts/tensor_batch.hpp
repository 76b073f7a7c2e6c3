// Merging the tensors of several calls into one batch along dimension 0, and splitting a
// batch's results back into per-call pieces.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace dmoe {

/// Position i of the result concatenates position i of every call (calls share merge keys).
/// A single call is passed through without a copy.
std::vector<torch::Tensor> concat_calls(const std::vector<const std::vector<torch::Tensor>*>& calls);

/// Splits every tensor of `merged` into consecutive row ranges of `sizes` (views, no copy).
std::vector<std::vector<torch::Tensor>> split_calls(const std::vector<torch::Tensor>& merged,
                                                    const std::vector<int64_t>& sizes);

}  // namespace dmoe
