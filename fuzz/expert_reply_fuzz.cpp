// An expert's reply (outputs, input gradients, info, error) as a server sends one: decode, read
// every tensor, and a decoded reply must survive its own re-encoding.
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
  auto reply = dmoe::decode_expert_reply(dmoe::fuzz::as_payload(data, size), limits);
  if (!reply)
    return 0;
  if (auto* f = std::get_if<dmoe::forward_result>(&*reply))
    touch(f->outputs);
  if (auto* b = std::get_if<dmoe::backward_result>(&*reply))
    touch(b->grad_inputs);
  if (auto again = dmoe::decode_expert_reply(dmoe::encode(*reply), limits); !again)
    dmoe::fuzz::broken("re-encoded reply refused: " + dmoe::describe(again.error()));
  return 0;
}
