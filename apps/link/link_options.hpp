// What one emulated link does (dmoe-link's command line), and the parsers for its values.
//   delay   one-way, added to each direction:           "50ms", "1.5s", "0"
//   jitter  standard deviation of a normal variation of the delay (truncated to +-2 jitter and
//           never below zero delay); bytes still arrive in order, so a late chunk holds back
//           the ones after it
//   rate    bandwidth of each direction, shared by every connection through the link:
//           "10mbit", "512kbit", "1gbit", "800bit", "0" (unlimited)
//   outage  "START+LENGTH" from the link's start, e.g. "30s+5s": nothing passes in either
//           direction (hold: bytes wait, like a cut cable; reset: every connection is closed
//           and new ones are refused until it ends, like a restarted router)
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "runtime/endpoint.hpp"

namespace dmoe::link {

using duration = std::chrono::nanoseconds;

struct outage {
  duration start{0};   // from the link's start
  duration length{0};
};

enum class outage_mode { hold, reset };

struct link_options {
  endpoint listen;
  endpoint target;
  duration delay{0};
  duration jitter{0};
  uint64_t rate_bits_per_s = 0;            // 0: unlimited
  uint64_t buffer_bytes = 8 << 20;         // held per direction and connection before reading stops
  std::vector<outage> outages;
  outage_mode mode = outage_mode::hold;
  uint64_t seed = 1;
};

/// "50ms", "2s", "1.5s", "250us", "0": a non-negative duration (errors quote the text).
caf::expected<duration> parse_duration(std::string_view text, std::string_view what);

/// "10mbit", "512kbit", "1gbit", "800bit", "0": bits per second.
caf::expected<uint64_t> parse_rate(std::string_view text);

/// "8MiB", "64KiB", "4096": bytes, at least 1.
caf::expected<uint64_t> parse_size(std::string_view text);

/// "30s+5s": an outage starting 30 s after the link starts, lasting 5 s.
caf::expected<outage> parse_outage(std::string_view text);

caf::expected<outage_mode> parse_outage_mode(std::string_view text);

}  // namespace dmoe::link
