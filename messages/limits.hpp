// Limits applied to everything decoded from the wire. Defaults are named here; nodes override
// them from their config (runtime/node_config).
#pragma once

#include <cstdint>

namespace dmoe {

constexpr uint64_t default_max_message_bytes = 256ull << 20;
constexpr uint32_t default_max_nesting = 16;  // dmoe's schemas nest at most 4 levels
constexpr uint64_t default_max_tensor_bytes = 128ull << 20;
constexpr uint32_t default_max_tensor_rank = 8;
constexpr uint32_t default_max_tensors_per_call = 16;
// A payload bigger than this crosses a node boundary as several messages (messages/parts.hpp):
// at 1 Mbit/s one part arrives in ~0.5 s, well inside the middleman's connection timeout.
constexpr uint64_t default_part_bytes = 64 << 10;
// The largest BASP frame (one CAF message) a node reads from a peer (runtime/wire_guard.hpp):
// expert calls cross nodes in parts, DHT replies are far smaller.
constexpr uint64_t default_max_frame_bytes = 16ull << 20;
// Connections a node accepts (runtime/wire_guard.hpp): in all, from one address, and the bytes
// of frames still arriving on all of them together.
constexpr uint32_t default_max_connections = 1024;
constexpr uint32_t default_max_connections_per_address = 128;
constexpr uint64_t default_max_pending_frame_bytes = 256ull << 20;
// Bytes a node holds for one peer that does not read them.
constexpr uint64_t default_max_unsent_bytes = 64ull << 20;

enum class nan_policy : uint8_t {
  allow,   // NaN and infinities pass through
  reject,  // a non-finite element makes the tensor invalid (errc::non_finite)
};

struct wire_limits {
  uint64_t max_message_bytes = default_max_message_bytes;
  uint32_t max_nesting = default_max_nesting;
  uint64_t max_tensor_bytes = default_max_tensor_bytes;
  uint32_t max_tensor_rank = default_max_tensor_rank;
  uint32_t max_tensors_per_call = default_max_tensors_per_call;
  nan_policy nans = nan_policy::reject;
  uint64_t part_bytes = default_part_bytes;
};

}  // namespace dmoe
