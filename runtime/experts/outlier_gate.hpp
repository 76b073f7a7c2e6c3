// The outlier rule of an expert's updates (pure logic): an update whose gradient norm per
// sample exceeds `factor` times the LARGEST of the last `window` accepted ones is refused, so
// one crafted backward call cannot blow up the weights or Adam's second moments (which would
// stall honest learning for a thousand steps). Not the median: gate weights scale an expert's
// gradients over orders of magnitude (measured in the main job: honest updates up to 3e5 times
// the running median, 305 refused within a minute at 10 x the median). The rule waits for
// `warmup` accepted updates first; refused values never enter the window.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>

namespace dmoe {

class outlier_gate {
public:
  explicit outlier_gate(double factor = 0, size_t window = 101, size_t warmup = 20)
    : factor_(factor), window_(window), warmup_(warmup) {
  }

  /// Whether an update of this norm per sample may be applied (always while off or warming up).
  bool accepts(double norm_per_sample) const {
    if (factor_ <= 0 || recent_.size() < warmup_)
      return true;
    return norm_per_sample <= factor_ * reference();
  }

  /// Records an applied update.
  void accepted(double norm_per_sample) {
    recent_.push_back(norm_per_sample);
    if (recent_.size() > window_)
      recent_.pop_front();
  }

  /// The largest value of the window (0 when empty).
  double reference() const {
    return recent_.empty() ? 0 : *std::max_element(recent_.begin(), recent_.end());
  }

  double factor() const {
    return factor_;
  }

private:
  double factor_;
  size_t window_;
  size_t warmup_;
  std::deque<double> recent_;
};

}  // namespace dmoe
