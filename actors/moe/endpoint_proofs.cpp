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
  i->second = {proven, now + (proven ? proven_for_ : refused_for_)};
  if (!added)
    return;
  order_.push_back(std::move(p));
  while (order_.size() > capacity_) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
}

}  // namespace dmoe::moe
