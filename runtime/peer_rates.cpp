#include "runtime/peer_rates.hpp"

namespace dmoe {

namespace {

constexpr double sweep_period_seconds = 1.0;

}  // namespace

peer_rates::peer_rates(double rate, double burst) : rate_(rate), burst_(burst) {
}

bool peer_rates::take(const std::string& peer, double now) {
  if (rate_ <= 0)
    return true;
  if (now - last_sweep_ >= sweep_period_seconds)
    forget_full(now);
  return buckets_[peer].take(1, rate_, burst_, now);
}

void peer_rates::forget_full(double now) {
  last_sweep_ = now;
  for (auto i = buckets_.begin(); i != buckets_.end();)
    i = i->second.full(rate_, burst_, now) ? buckets_.erase(i) : std::next(i);
}

}  // namespace dmoe
