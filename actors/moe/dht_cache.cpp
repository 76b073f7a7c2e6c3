#include "actors/moe/dht_cache.hpp"

#include <algorithm>

#include "actors/dht/ownership.hpp"

namespace dmoe::moe {

std::vector<declared> read_declarations(const std::vector<dht::item>& items, size_t* skipped) {
  std::vector<declared> out;
  out.reserve(items.size());
  for (const auto& x : items) {
    auto parts = dht::parse_subkey(x.subkey);
    auto owner = parts && parts->owner ? *parts->owner : std::string{};
    if (auto d = decode_declaration(x.value))
      out.push_back({std::move(*d), x.expiration, std::move(owner)});
    else if (skipped != nullptr)
      ++*skipped;
  }
  return out;
}

void dht_cache::put(const std::string& key, std::vector<declared> items, double now) {
  entries_[key] = entry{std::move(items), now};
}

namespace {

void drop_expired(std::vector<declared>& items, double now) {
  items.erase(std::remove_if(items.begin(), items.end(),
                             [now](const declared& x) { return x.expiration <= now; }),
              items.end());
}

}  // namespace

const std::vector<declared>* dht_cache::fresh(const std::string& key, double now) {
  auto i = entries_.find(key);
  if (i == entries_.end() || now - i->second.fetched_at >= max_age_)
    return nullptr;
  drop_expired(i->second.items, now);
  return &i->second.items;
}

const std::vector<declared>* dht_cache::usable(const std::string& key, double now) {
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

std::vector<int64_t> child_coordinates(const std::vector<declared>& items, double now) {
  std::vector<int64_t> out;
  for (const auto& x : items) {
    if (x.expiration > now)
      x.children.append_children(out);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace dmoe::moe
