// A tensor as a peer sends one: decode (aliasing the bytes), then read every element, so a
// tensor whose claimed shape outruns its bytes shows up under AddressSanitizer.
#include <ATen/Parallel.h>
#include <torch/types.h>

#include "fuzz/fuzz_input.hpp"
#include "runtime/tensor_codec.hpp"

// One thread: libFuzzer runs inputs one after another; torch's pool would only add noise.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto limits = dmoe::fuzz::small_limits();
  auto t = dmoe::decode_tensor(dmoe::fuzz::as_payload(data, size), limits);
  if (t) {
    if (static_cast<uint64_t>(t->nbytes()) > limits.max_tensor_bytes)
      dmoe::fuzz::broken("decoded tensor of " + std::to_string(t->nbytes()) + " bytes");
    if (t->numel() > 0)
      t->to(torch::kFloat64).sum().item<double>();
  }
  return 0;
}
