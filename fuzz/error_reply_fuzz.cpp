// An error reply (schema/error.capnp) as peers send them inside replies: any code maps to one
// of dmoe's codes, and describing it never fails.
#include "fuzz/fuzz_input.hpp"
#include "messages/schema/error.capnp.h"

using namespace dmoe;

namespace {

struct read_reply {  // caf::expected<caf::error> would not tell a decode failure from the reply
  caf::error error;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto reply = decode<wire::ErrorReply>(fuzz::as_payload(data, size), fuzz::small_limits(),
                                        [](wire::ErrorReply::Reader in) -> caf::expected<read_reply> {
                                          return read_reply{read_error(in)};
                                        });
  if (!reply)
    return 0;
  auto code = static_cast<int>(code_of(reply->error));
  if (code < static_cast<int>(errc::internal) || code > static_cast<int>(errc::expert_overloaded))
    fuzz::broken("error code " + std::to_string(code) + " is none of dmoe's");
  describe(reply->error);
  return 0;
}
