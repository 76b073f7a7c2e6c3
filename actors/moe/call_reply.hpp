// The router's one decoder for the replies to its expert calls, forward and backward alike.
#pragma once

#include <cstdint>
#include <vector>

#include <caf/expected.hpp>
#include <torch/types.h>

#include "messages/limits.hpp"
#include "messages/payload.hpp"

namespace dmoe::moe {

enum class call_direction { forward, backward };

/// The one tensor a reply to a call must carry: a forward's outputs or a backward's input
/// gradient, float32, of exactly `shape` (its first dimension the call's rows; an empty shape
/// accepts any, for a reply whose job has ended).
/// Anything else is the error the call failed with: the server's ErrorReply as it came, a
/// reply that does not decode, one of the other direction or with another tensor count
/// (malformed), or another shape or dtype (shape_mismatch).
caf::expected<torch::Tensor> decode_call_reply(payload reply, const wire_limits& limits,
                                               call_direction direction,
                                               const std::vector<int64_t>& shape);

}  // namespace dmoe::moe
