// An expert call (forward, backward, info) as a peer sends one: decode, read every tensor, and
// a decoded call must survive its own re-encoding.
#include <ATen/Parallel.h>
#include <torch/types.h>

#include "fuzz/fuzz_input.hpp"
#include "runtime/expert_codec.hpp"

namespace {

void touch(const std::vector<torch::Tensor>& ts) {
  for (const auto& t : ts)
    if (t.numel() > 0)
      t.to(torch::kFloat64).sum().item<double>();
}

}  // namespace

// One thread: libFuzzer runs inputs one after another; torch's pool would only add noise.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto limits = dmoe::fuzz::small_limits();
  auto call = dmoe::decode_expert_call(dmoe::fuzz::as_payload(data, size), limits);
  if (!call)
    return 0;
  if (auto* f = std::get_if<dmoe::forward_call>(&*call))
    touch(f->inputs);
  if (auto* b = std::get_if<dmoe::backward_call>(&*call)) {
    touch(b->inputs);
    touch(b->grad_outputs);
  }
  if (auto again = dmoe::decode_expert_call(dmoe::encode(*call), limits); !again)
    dmoe::fuzz::broken("re-encoded call refused: " + dmoe::describe(again.error()));
  return 0;
}
