// The timing of an emulated link, as pure logic (time passed in): when a chunk of bytes that
// arrived at the relay may leave it, and when the link is down. dmoe-link's relay (relay.hpp)
// does the I/O and asks these classes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "apps/link/link_options.hpp"

namespace dmoe::link {

using clock_type = std::chrono::steady_clock;
using time_point = clock_type::time_point;

/// Scheduled outages (from the link's start) plus a manual switch (dmoe-link's SIGUSR1/SIGUSR2).
class outage_clock {
public:
  outage_clock(time_point start, std::vector<outage> schedule);

  void set_manual_down(bool down) {
    manual_down_ = down;
  }

  bool down(time_point t) const;

  /// The first moment at or after `t` when the link is up (time_point::max() while it is
  /// switched down by hand, which only a call to set_manual_down ends).
  time_point up_at(time_point t) const;

  /// The next scheduled start or end of an outage after `t`; time_point::max() when none.
  time_point next_change(time_point t) const;

private:
  bool scheduled_down(time_point t) const;

  time_point start_;
  std::vector<outage> schedule_;
  bool manual_down_ = false;
};

/// One direction of a link. Its rate is shared by every connection through it (it models a
/// host's uplink or downlink): a chunk waits for the chunks sent before it, then takes
/// bytes * 8 / rate on the wire, then the one-way delay (plus jitter). A connection's chunks
/// never overtake each other.
class direction_shaper {
public:
  direction_shaper(duration delay, duration jitter, uint64_t rate_bits_per_s, uint64_t seed);

  /// When `bytes` that reached the link at `now` leave it, given that the same connection's
  /// previous chunk leaves at `previous`. The wire does not send during scheduled outages
  /// (a manual one has no known end: the relay holds due chunks while it lasts).
  time_point release_time(time_point now, size_t bytes, time_point previous,
                          const outage_clock& outages);

  /// The delay drawn for one chunk: delay + N(0, jitter) truncated to +-2 jitter, at least 0.
  duration sample_delay();

private:
  duration delay_;
  duration jitter_;
  uint64_t rate_;
  std::mt19937_64 rng_;
  std::normal_distribution<double> normal_{0.0, 1.0};
  time_point wire_free_{};
};

}  // namespace dmoe::link
