#include "actors/moe/quorum.hpp"

namespace dmoe::moe {

quorum::quorum(size_t samples, size_t k_min, bool shortfall_ends_job)
  : k_min_(k_min),
    shortfall_ends_job_(shortfall_ends_job),
    answered_(samples, 0),
    pending_(samples, 0) {
}

void quorum::sent(const std::vector<int64_t>& rows) {
  for (auto row : rows)
    ++pending_.at(static_cast<size_t>(row));
  ++calls_out_;
}

void quorum::answered(const std::vector<int64_t>& rows) {
  for (auto row : rows)
    ++answered_.at(static_cast<size_t>(row));
  call_ended(rows);
}

void quorum::failed(const std::vector<int64_t>& rows) {
  call_ended(rows);
}

void quorum::call_ended(const std::vector<int64_t>& rows) {
  for (auto row : rows)
    --pending_.at(static_cast<size_t>(row));
  --calls_out_;
}

quorum::step quorum::next() {
  if (calls_out_ == 0)
    return step::finish;
  bool waiting = false;
  bool short_of_k_min = false;
  for (size_t b = 0; b < answered_.size(); ++b) {
    if (answered_[b] >= k_min_)
      continue;
    if (answered_[b] + pending_[b] < k_min_)
      short_of_k_min = true;
    else
      waiting = true;
  }
  if (short_of_k_min && shortfall_ends_job_)
    return step::finish;
  if (waiting || settling_)
    return step::wait;
  settling_ = true;
  return step::settle;
}

size_t quorum::below_k_min() const {
  size_t below = 0;
  for (auto n : answered_)
    if (n < k_min_)
      ++below;
  return below;
}

}  // namespace dmoe::moe
