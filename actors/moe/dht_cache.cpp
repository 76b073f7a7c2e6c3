#include "actors/moe/dht_cache.hpp"

#include <algorithm>
#include <charconv>

#include "actors/dht/ownership.hpp"

namespace dmoe::moe {

void dht_cache::put(const std::string& key, std::vector<dht::item> items, double now) {
  entries_[key] = entry{std::move(items), now};
}

namespace {

void drop_expired(std::vector<dht::item>& items, double now) {
  items.erase(std::remove_if(items.begin(), items.end(),
                             [now](const dht::item& x) { return x.expiration <= now; }),
              items.end());
}

}  // namespace

const std::vector<dht::item>* dht_cache::fresh(const std::string& key, double now) {
  auto i = entries_.find(key);
  if (i == entries_.end() || now - i->second.fetched_at >= max_age_)
    return nullptr;
  drop_expired(i->second.items, now);
  return &i->second.items;
}

const std::vector<dht::item>* dht_cache::usable(const std::string& key, double now) {
  auto i = entries_.find(key);
  if (i == entries_.end())
    return nullptr;
  drop_expired(i->second.items, now);
  return i->second.items.empty() ? nullptr : &i->second.items;
}

void dht_cache::evict_stale(double now) {
  for (auto i = entries_.begin(); i != entries_.end();) {
    drop_expired(i->second.items, now);
    if (i->second.items.empty() && now - i->second.fetched_at >= max_age_)
      i = entries_.erase(i);
    else
      ++i;
  }
}

std::string prefix_key(const std::string& name, const grid_coords& coords) {
  auto key = name + ".";
  for (auto c : coords)
    key += std::to_string(c) + ".";
  return key;
}

std::string expert_id_of(const std::string& name, const grid_coords& coords) {
  auto id = name;
  for (auto c : coords)
    id += "." + std::to_string(c);
  return id;
}

std::vector<int64_t> child_coordinates(const std::vector<dht::item>& items) {
  std::vector<int64_t> out;
  out.reserve(items.size());
  for (const auto& x : items) {
    auto parts = dht::parse_subkey(x.subkey);  // each server declares its own "17#<owner>"
    if (!parts)
      continue;
    auto label = parts->label;
    int64_t c = -1;
    auto [ptr, ec] = std::from_chars(label.data(), label.data() + label.size(), c);
    if (ec == std::errc{} && ptr == label.data() + label.size() && !label.empty() && c >= 0)
      out.push_back(c);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace dmoe::moe
