// For the harnesses that decode tensors: one torch thread, and reading every element. Each
// harness is its own executable, so this header defines libFuzzer's init hook once per program.
#pragma once

#include <vector>

#include <ATen/Parallel.h>
#include <torch/types.h>

// libFuzzer runs inputs one after another; torch's thread pool would only add noise.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  return 0;
}

namespace dmoe::fuzz {

/// Reads every element, so a tensor whose shape outruns its bytes shows under AddressSanitizer.
inline void touch(const torch::Tensor& t) {
  if (t.numel() > 0)
    t.to(torch::kFloat64).sum().item<double>();
}

inline void touch(const std::vector<torch::Tensor>& ts) {
  for (const auto& t : ts)
    touch(t);
}

}  // namespace dmoe::fuzz
