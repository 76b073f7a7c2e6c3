#include "actors/moe/endpoint_proofs.hpp"

namespace dmoe::moe {

endpoint_proofs::status endpoint_proofs::check(const std::string& endpoint,
                                               const std::string& owner, double now) const {
  auto i = entries_.find({endpoint, owner});
  if (i == entries_.end())
    return status::unknown;
  const auto& e = i->second;
  if (e.proven)
    return now < e.until ? status::proven : status::stale;
  return now < e.until ? status::refused : status::unknown;
}

void endpoint_proofs::finished(const std::string& endpoint, const std::string& owner,
                               bool proven, double now) {
  pair p{endpoint, owner};
  auto [i, added] = entries_.try_emplace(p);
  if (proven && !i->second.proven)
    ++owners_[owner];
  else if (!proven && i->second.proven)
    forget_owner(owner);
  i->second = {proven, now + (proven ? proven_for_ : refused_for_)};
  if (!added)
    return;
  order_.push_back(std::move(p));
  while (order_.size() > capacity_) {
    if (auto old = entries_.find(order_.front()); old != entries_.end() && old->second.proven)
      forget_owner(old->first.second);
    entries_.erase(order_.front());
    order_.pop_front();
  }
}

void endpoint_proofs::forget_owner(const std::string& owner) {
  if (auto i = owners_.find(owner); i != owners_.end() && --i->second == 0)
    owners_.erase(i);
}

}  // namespace dmoe::moe
