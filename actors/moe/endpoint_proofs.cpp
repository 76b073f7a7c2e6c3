#include "actors/moe/endpoint_proofs.hpp"

namespace dmoe::moe {

endpoint_proofs::status endpoint_proofs::check(const std::string& endpoint,
                                               const std::string& owner, double now) const {
  auto i = entries_.find({endpoint, owner});
  if (i == entries_.end())
    return status::unknown;
  const auto& e = i->second;
  if (e.state == status::pending)
    return status::pending;
  return now < e.until ? e.state : status::unknown;
}

void endpoint_proofs::started(const std::string& endpoint, const std::string& owner) {
  pair p{endpoint, owner};
  remember(p);
  entries_[p] = {status::pending, 0};
}

void endpoint_proofs::finished(const std::string& endpoint, const std::string& owner,
                               bool proven, double now) {
  pair p{endpoint, owner};
  remember(p);
  entries_[p] = proven ? entry{status::proven, now + proven_for_}
                       : entry{status::refused, now + refused_for_};
}

void endpoint_proofs::remember(const pair& p) {
  if (entries_.count(p) > 0)
    return;
  order_.push_back(p);
  while (order_.size() > capacity_) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
}

}  // namespace dmoe::moe
