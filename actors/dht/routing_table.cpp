#include "actors/dht/routing_table.hpp"

#include <algorithm>

namespace dmoe::dht {

namespace {

template <class Container>
auto find_by_id(Container& xs, const id160& id) {
  return std::find_if(xs.begin(), xs.end(), [&](const contact& c) { return c.info.id == id; });
}

}  // namespace

routing_table::routing_table(id160 self, size_t k) : self_(self), k_(k), buckets_(1) {
}

size_t routing_table::index_of(const id160& id) const {
  return std::min(common_prefix_bits(self_, id), buckets_.size() - 1);
}

void routing_table::split_last() {
  auto depth = buckets_.size() - 1;
  bucket near;
  auto& last = buckets_.back();
  for (auto* list : {&last.contacts, &last.replacements}) {
    std::deque<contact> keep;
    auto& near_list = list == &last.contacts ? near.contacts : near.replacements;
    for (auto& c : *list)
      (common_prefix_bits(self_, c.info.id) > depth ? near_list : keep).push_back(std::move(c));
    *list = std::move(keep);
  }
  near.last_lookup = last.last_lookup;
  buckets_.push_back(std::move(near));
}

routing_table::update_result routing_table::seen(const node_info& who, double now) {
  if (who.id == self_)
    return {outcome::ignored, std::nullopt};
  for (;;) {
    auto& b = buckets_[index_of(who.id)];
    if (auto i = find_by_id(b.contacts, who.id); i != b.contacts.end()) {
      auto c = std::move(*i);
      b.contacts.erase(i);
      c.info.endpoint = who.endpoint;
      c.last_seen = now;
      c.failures = 0;
      b.contacts.push_back(std::move(c));
      return {outcome::updated, std::nullopt};
    }
    if (b.contacts.size() < k_) {
      if (auto r = find_by_id(b.replacements, who.id); r != b.replacements.end())
        b.replacements.erase(r);
      b.contacts.push_back(contact{who, now, 0});
      return {outcome::inserted, std::nullopt};
    }
    bool is_last = &b == &buckets_.back();
    if (is_last && buckets_.size() < id_bits) {
      split_last();
      continue;  // the contact's bucket may have room now
    }
    if (auto r = find_by_id(b.replacements, who.id); r != b.replacements.end())
      b.replacements.erase(r);
    b.replacements.push_back(contact{who, now, 0});
    if (b.replacements.size() > k_)
      b.replacements.pop_front();
    return {outcome::pending, b.contacts.front().info};
  }
}

bool routing_table::failed(const id160& id, size_t max_failures) {
  auto& b = buckets_[index_of(id)];
  auto i = find_by_id(b.contacts, id);
  if (i == b.contacts.end())
    return false;
  if (++i->failures < max_failures)
    return false;
  return remove(id);
}

bool routing_table::remove(const id160& id) {
  auto& b = buckets_[index_of(id)];
  if (auto r = find_by_id(b.replacements, id); r != b.replacements.end())
    b.replacements.erase(r);
  auto i = find_by_id(b.contacts, id);
  if (i == b.contacts.end())
    return false;
  b.contacts.erase(i);
  if (!b.replacements.empty()) {
    b.contacts.push_back(std::move(b.replacements.back()));
    b.replacements.pop_back();
  }
  return true;
}

bool routing_table::contains(const id160& id) const {
  return find(id).has_value();
}

std::optional<node_info> routing_table::find(const id160& id) const {
  const auto& b = buckets_[index_of(id)];
  auto i = std::find_if(b.contacts.begin(), b.contacts.end(),
                        [&](const contact& c) { return c.info.id == id; });
  if (i == b.contacts.end())
    return std::nullopt;
  return i->info;
}

std::vector<node_info> routing_table::closest(const id160& target, size_t count,
                                              const id160* exclude) const {
  std::vector<std::pair<id160, const node_info*>> all;
  all.reserve(size());
  for (const auto& b : buckets_)
    for (const auto& c : b.contacts)
      if (exclude == nullptr || c.info.id != *exclude)
        all.emplace_back(distance(c.info.id, target), &c.info);
  auto n = std::min(count, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
                    [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<node_info> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i)
    out.push_back(*all[i].second);
  return out;
}

void routing_table::touched(const id160& target, double now) {
  buckets_[index_of(target)].last_lookup = now;
}

std::vector<size_t> routing_table::idle_buckets(double now, double max_idle) const {
  std::vector<size_t> out;
  for (size_t i = 0; i < buckets_.size(); ++i)
    if (now - buckets_[i].last_lookup >= max_idle)
      out.push_back(i);
  return out;
}

id160 routing_table::random_id_in_bucket(size_t index, std::mt19937_64& rng) const {
  if (index + 1 < buckets_.size())
    return random_id_with_prefix(self_, index, rng);
  // The last bucket covers every id sharing at least `index` bits: keep those, randomize the rest.
  auto out = random_id(rng);
  for (size_t bit = 0; bit < index; ++bit) {
    auto byte = bit / 8;
    auto mask = static_cast<uint8_t>(0x80u >> (bit % 8));
    out[byte] = static_cast<uint8_t>((out[byte] & ~mask) | (self_[byte] & mask));
  }
  return out;
}

size_t routing_table::size() const {
  size_t n = 0;
  for (const auto& b : buckets_)
    n += b.contacts.size();
  return n;
}

std::vector<contact> routing_table::contacts() const {
  std::vector<contact> out;
  for (const auto& b : buckets_)
    out.insert(out.end(), b.contacts.begin(), b.contacts.end());
  return out;
}

}  // namespace dmoe::dht
