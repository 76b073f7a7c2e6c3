#include "actors/dht/lookup.hpp"

namespace dmoe::dht {

namespace {

// Contacts beyond this many times k are too far to matter; dropping them bounds memory.
constexpr size_t shortlist_factor = 4;

}  // namespace

lookup::lookup(const id160& target, const id160& self, size_t k, size_t alpha,
               const std::vector<node_info>& seeds)
  : target_(target), self_(self), k_(k), alpha_(alpha) {
  for (const auto& s : seeds)
    add(s, 1);
}

void lookup::add(const node_info& info, size_t depth) {
  if (info.id == self_)
    return;
  auto [pos, added] = shortlist_.emplace(distance(info.id, target_),
                                         candidate{info, depth, state::fresh});
  if (!added)
    return;
  if (shortlist_.size() > k_ * shortlist_factor) {
    auto last = std::prev(shortlist_.end());
    if (last->second.st != state::in_flight)
      shortlist_.erase(last);
  }
}

lookup::candidate* lookup::find(const id160& id) {
  auto i = shortlist_.find(distance(id, target_));
  return i == shortlist_.end() ? nullptr : &i->second;
}

std::vector<node_info> lookup::next() {
  std::vector<node_info> out;
  size_t considered = 0;
  for (auto& [dist, c] : shortlist_) {
    if (in_flight_ >= alpha_ || considered >= k_)
      break;
    if (c.st == state::failed)
      continue;
    ++considered;
    if (c.st == state::fresh) {
      c.st = state::in_flight;
      ++in_flight_;
      ++requests_;
      rounds_ = std::max(rounds_, c.depth);
      out.push_back(c.info);
    }
  }
  return out;
}

void lookup::answered(const id160& from, const std::vector<node_info>& closer) {
  auto* c = find(from);
  if (c == nullptr || c->st != state::in_flight)
    return;
  c->st = state::answered;
  --in_flight_;
  auto depth = c->depth + 1;
  for (const auto& info : closer)
    add(info, depth);
}

void lookup::failed(const id160& from) {
  auto* c = find(from);
  if (c == nullptr || c->st != state::in_flight)
    return;
  c->st = state::failed;
  --in_flight_;
  ++failures_;
}

bool lookup::done() const {
  if (in_flight_ > 0)
    return false;
  size_t considered = 0;
  for (const auto& [dist, c] : shortlist_) {
    if (considered >= k_)
      break;
    if (c.st == state::failed)
      continue;
    ++considered;
    if (c.st == state::fresh)
      return false;
  }
  return true;
}

std::vector<node_info> lookup::closest_answered() const {
  std::vector<node_info> out;
  for (const auto& [dist, c] : shortlist_) {
    if (out.size() >= k_)
      break;
    if (c.st == state::answered)
      out.push_back(c.info);
  }
  return out;
}

}  // namespace dmoe::dht
