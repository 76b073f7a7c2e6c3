// An expert call (forward, backward, info) as a peer sends one: decode, read every tensor, and
// a decoded call must survive its own re-encoding.
#include "fuzz/fuzz_input.hpp"
#include "fuzz/torch_input.hpp"
#include "runtime/expert_codec.hpp"

using namespace dmoe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto limits = fuzz::small_limits();
  auto call = decode_expert_call(fuzz::as_payload(data, size), limits);
  if (!call)
    return 0;
  if (auto* f = std::get_if<forward_call>(&*call))
    fuzz::touch(f->inputs);
  if (auto* b = std::get_if<backward_call>(&*call)) {
    fuzz::touch(b->inputs);
    fuzz::touch(b->grad_outputs);
  }
  if (auto again = decode_expert_call(encode(*call), limits); !again)
    fuzz::broken("re-encoded call refused: " + describe(again.error()));
  return 0;
}
