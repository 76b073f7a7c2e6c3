// An expert's reply (outputs, input gradients, info, error) as a server sends one: decode, read
// every tensor, and a decoded reply must survive its own re-encoding.
#include "fuzz/fuzz_input.hpp"
#include "fuzz/torch_input.hpp"
#include "runtime/expert_codec.hpp"

using namespace dmoe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto limits = fuzz::small_limits();
  auto reply = decode_expert_reply(fuzz::as_payload(data, size), limits);
  if (!reply)
    return 0;
  if (auto* f = std::get_if<forward_result>(&*reply))
    fuzz::touch(f->outputs);
  if (auto* b = std::get_if<backward_result>(&*reply))
    fuzz::touch(b->grad_inputs);
  if (auto again = decode_expert_reply(encode(*reply), limits); !again)
    fuzz::broken("re-encoded reply refused: " + describe(again.error()));
  return 0;
}
