#include "runtime/peer_rates.hpp"

#include <algorithm>

namespace dmoe {

namespace {

constexpr double sweep_period_seconds = 1.0;

}  // namespace

peer_rates::peer_rates(double rate, double burst) : rate_(rate), burst_(std::max(burst, 1.0)) {
}

bool peer_rates::take(const std::string& peer, double now) {
  if (rate_ <= 0)
    return true;
  if (now - last_sweep_ >= sweep_period_seconds)
    forget_full(now);
  auto [i, fresh] = buckets_.try_emplace(peer, bucket{burst_, now});
  auto& b = i->second;
  if (!fresh) {
    b.tokens = std::min(burst_, b.tokens + std::max(0.0, now - b.updated) * rate_);
    b.updated = now;
  }
  if (b.tokens < 1)
    return false;
  b.tokens -= 1;
  return true;
}

void peer_rates::forget_full(double now) {
  last_sweep_ = now;
  for (auto i = buckets_.begin(); i != buckets_.end();) {
    const auto& b = i->second;
    bool full = b.tokens + std::max(0.0, now - b.updated) * rate_ >= burst_;
    i = full ? buckets_.erase(i) : std::next(i);
  }
}

}  // namespace dmoe
