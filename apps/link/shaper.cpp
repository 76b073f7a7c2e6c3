#include "apps/link/shaper.hpp"

#include <algorithm>

namespace dmoe::link {

outage_clock::outage_clock(time_point start, std::vector<outage> schedule)
  : start_(start), schedule_(std::move(schedule)) {
}

bool outage_clock::scheduled_down(time_point t) const {
  auto since = t - start_;
  return std::any_of(schedule_.begin(), schedule_.end(), [&](const outage& o) {
    return since >= o.start && since < o.start + o.length;
  });
}

bool outage_clock::down(time_point t) const {
  return manual_down_ || scheduled_down(t);
}

time_point outage_clock::up_at(time_point t) const {
  if (manual_down_)
    return time_point::max();
  // Outages may overlap or touch: move past each one that covers t until none does.
  for (bool moved = true; moved;) {
    moved = false;
    for (const auto& o : schedule_) {
      auto begin = start_ + o.start;
      auto end = begin + o.length;
      if (t >= begin && t < end) {
        t = end;
        moved = true;
      }
    }
  }
  return t;
}

time_point outage_clock::next_change(time_point t) const {
  auto next = time_point::max();
  for (const auto& o : schedule_) {
    for (auto edge : {start_ + o.start, start_ + o.start + o.length})
      if (edge > t)
        next = std::min(next, edge);
  }
  return next;
}

direction_shaper::direction_shaper(duration delay, duration jitter, uint64_t rate_bits_per_s,
                                   uint64_t seed)
  : delay_(delay), jitter_(jitter), rate_(rate_bits_per_s), rng_(seed) {
}

duration direction_shaper::sample_delay() {
  if (jitter_.count() == 0)
    return delay_;
  auto z = std::clamp(normal_(rng_), -2.0, 2.0);
  auto extra = duration{static_cast<int64_t>(z * static_cast<double>(jitter_.count()))};
  return std::max(duration{0}, delay_ + extra);
}

time_point direction_shaper::release_time(time_point now, size_t bytes, time_point previous,
                                          const outage_clock& outages) {
  auto sent = std::max(now, wire_free_);
  if (rate_ > 0) {
    // A scheduled outage stops the wire; one switched by hand has no known end, so the relay
    // holds the chunk when it is due instead (the wire's schedule goes on as if up).
    if (auto up = outages.up_at(sent); up != time_point::max())
      sent = up;
    auto on_wire = std::chrono::duration<double>(static_cast<double>(bytes) * 8.0
                                                 / static_cast<double>(rate_));
    sent += std::chrono::duration_cast<duration>(on_wire);
    wire_free_ = sent;
  }
  return std::max(sent + sample_delay(), previous);
}

}  // namespace dmoe::link
