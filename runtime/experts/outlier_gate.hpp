// The outlier rule of an expert's updates (pure logic): an update whose gradient norm per
// sample exceeds `factor` times the median of the last `window` accepted ones is refused, so
// one crafted backward call cannot blow up the weights or Adam's second moments (which would
// stall honest learning for a thousand steps). The rule waits for `warmup` accepted updates
// first; refused values never enter the window, so a poisoner cannot drag the median up.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <vector>

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
    return norm_per_sample <= factor_ * median();
  }

  /// Records an applied update.
  void accepted(double norm_per_sample) {
    recent_.push_back(norm_per_sample);
    if (recent_.size() > window_)
      recent_.pop_front();
  }

  /// Median of the window (0 when empty).
  double median() const {
    if (recent_.empty())
      return 0;
    std::vector<double> sorted{recent_.begin(), recent_.end()};
    auto middle = sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2);
    std::nth_element(sorted.begin(), middle, sorted.end());
    return *middle;
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
