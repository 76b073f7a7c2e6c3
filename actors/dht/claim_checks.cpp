#include "actors/dht/claim_checks.hpp"

#include <algorithm>

namespace dmoe::dht {

claim_checks::claim_checks(claim_check_limits limits) : limits_(limits), tokens_(limits.burst) {
}

claim_checks::verdict claim_checks::begin(const std::string& endpoint, double now) {
  if (under_way_.count(endpoint) > 0)
    return verdict::under_way;
  if (auto i = failed_at_.find(endpoint); i != failed_at_.end()) {
    if (now - i->second < limits_.retry_after)
      return verdict::failed_lately;
    failed_at_.erase(i);
  }
  if (under_way_.size() >= limits_.max_at_once)
    return verdict::too_many;
  if (started_)
    tokens_ = std::min(limits_.burst, tokens_ + (now - refilled_at_) * limits_.per_second);
  started_ = true;
  refilled_at_ = now;
  if (tokens_ < 1)
    return verdict::too_fast;
  tokens_ -= 1;
  under_way_.insert(endpoint);
  return verdict::start;
}

void claim_checks::end(const std::string& endpoint, bool answered, double now) {
  under_way_.erase(endpoint);
  if (answered)
    return;
  if (failed_at_.insert_or_assign(endpoint, now).second)
    failed_order_.push_back(endpoint);
  while (failed_at_.size() > limits_.max_remembered && !failed_order_.empty()) {
    failed_at_.erase(failed_order_.front());
    failed_order_.pop_front();
  }
  if (failed_order_.size() > 2 * limits_.max_remembered)  // drop places of expired entries
    failed_order_.erase(std::remove_if(failed_order_.begin(), failed_order_.end(),
                                       [this](const std::string& e) {
                                         return failed_at_.count(e) == 0;
                                       }),
                        failed_order_.end());
}

const char* explain(claim_checks::verdict v) {
  switch (v) {
    case claim_checks::verdict::start:
      return "checking";
    case claim_checks::verdict::under_way:
      return "a check of this endpoint is under way";
    case claim_checks::verdict::too_many:
      return "too many checks under way";
    case claim_checks::verdict::too_fast:
      return "checks are started too fast";
    case claim_checks::verdict::failed_lately:
      return "a check of this endpoint failed lately";
  }
  return "?";
}

}  // namespace dmoe::dht
