// An expert pattern (server.expert-pattern, e.g. "ffn.[0:4].[0:4]"): expanded within its limit
// or refused; every expanded id is a valid expert id.
#include <string>

#include "fuzz/fuzz_input.hpp"
#include "messages/expert_id.hpp"
#include "messages/expert_pattern.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string pattern(reinterpret_cast<const char*>(data), size);
  auto ids = dmoe::expand_expert_pattern(pattern);
  if (!ids)
    return 0;
  for (const auto& id : *ids)
    if (!dmoe::is_valid_expert_id(id))
      dmoe::fuzz::broken("expanded to the invalid id '" + id + "'");
  return 0;
}
