// A tensor as a peer sends one: decode (aliasing the bytes), stay within the limit, and read
// every element.
#include "fuzz/fuzz_input.hpp"
#include "fuzz/torch_input.hpp"
#include "runtime/tensor_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto limits = dmoe::fuzz::small_limits();
  auto t = dmoe::decode_tensor(dmoe::fuzz::as_payload(data, size), limits);
  if (!t)
    return 0;
  if (static_cast<uint64_t>(t->nbytes()) > limits.max_tensor_bytes)
    dmoe::fuzz::broken("decoded tensor of " + std::to_string(t->nbytes()) + " bytes");
  dmoe::fuzz::touch(*t);
  return 0;
}
