// How far a job's samples are from their k_min answers and what the job does next: the progress
// rule of the router's forward and backward jobs as a pure state machine (calls in, a step out),
// with no actors and no clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dmoe::moe {

class quorum {
public:
  enum class step {
    wait,    // some sample may still reach k_min with a call that is out
    settle,  // none can any more: wait timeout_after_k_min for stragglers (said once)
    finish,  // no call is out, or a sample's shortfall ends the job
  };

  quorum() = default;

  /// `samples` samples that each want `k_min` answers. With `shortfall_ends_job` (a forward
  /// without allow_zero_outputs) a sample that can no longer get them ends the job at once: a
  /// failed call is only ever replaced one for one, so it cannot recover.
  quorum(size_t samples, size_t k_min, bool shortfall_ends_job);

  /// A call covering `rows` went out, answered, or ended without an answer.
  void sent(const std::vector<int64_t>& rows);
  void answered(const std::vector<int64_t>& rows);
  void failed(const std::vector<int64_t>& rows);

  step next();

  size_t answers(size_t sample) const {
    return answered_.at(sample);
  }
  size_t samples() const {
    return answered_.size();
  }
  size_t calls_out() const {
    return calls_out_;
  }
  /// Samples with fewer than k_min answers.
  size_t below_k_min() const;

private:
  void call_ended(const std::vector<int64_t>& rows);

  size_t k_min_ = 0;
  bool shortfall_ends_job_ = false;
  std::vector<size_t> answered_;
  std::vector<size_t> pending_;  // calls out covering each sample
  size_t calls_out_ = 0;
  bool settling_ = false;
};

}  // namespace dmoe::moe
