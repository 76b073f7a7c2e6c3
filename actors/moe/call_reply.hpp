// The router's one decoder for the replies to its expert calls, forward and backward alike.
#pragma once

#include <cstdint>

#include <caf/expected.hpp>
#include <torch/types.h>

#include "messages/limits.hpp"
#include "messages/payload.hpp"

namespace dmoe::moe {

enum class call_direction { forward, backward };

/// The one tensor a reply to a call for `rows` samples must carry: a forward's outputs
/// [rows, width] or a backward's input gradient [rows, width], float32 (`width` < 0: any).
/// Anything else is the error the call failed with: the server's ErrorReply as it came, a
/// reply that does not decode, one of the other direction or with another tensor count
/// (malformed), or another shape or dtype (shape_mismatch).
caf::expected<torch::Tensor> decode_call_reply(payload reply, const wire_limits& limits,
                                               call_direction direction, int64_t rows,
                                               int64_t width);

}  // namespace dmoe::moe
