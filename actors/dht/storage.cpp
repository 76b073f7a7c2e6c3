#include "actors/dht/storage.hpp"

#include <algorithm>
#include <cmath>

#include "actors/dht/ownership.hpp"
#include "messages/errors.hpp"

namespace dmoe::dht {

caf::error storage::validate(const id160& key, const item& x, double now) const {
  if (auto err = validate_shape(x, now))
    return err;
  return check_owner(key, x);
}

caf::error storage::validate_shape(const item& x, double now) const {
  if (!std::isfinite(x.expiration))
    return make_error(errc::invalid_argument, "expiration must be finite");
  if (x.expiration <= now)
    return make_error(errc::expired, "expiration " + std::to_string(x.expiration)
                                       + " is not in the future (now "
                                       + std::to_string(now) + ")");
  if (x.subkey.size() > limits_.max_subkey_bytes)
    return make_error(errc::limit_exceeded, "sub-key of " + std::to_string(x.subkey.size())
                                              + " bytes exceeds the limit of "
                                              + std::to_string(limits_.max_subkey_bytes));
  if (x.value.size() > limits_.max_value_bytes)
    return make_error(errc::limit_exceeded, "value of " + std::to_string(x.value.size())
                                              + " bytes exceeds the limit of "
                                              + std::to_string(limits_.max_value_bytes));
  bool owned = !x.signature.empty();
  auto ttl = owned ? limits_.max_owned_ttl : limits_.max_ttl;
  if (x.expiration > now + ttl)
    return make_error(errc::invalid_argument,
                      "expiration is " + std::to_string(x.expiration - now) + " s ahead, more than the "
                        + std::to_string(ttl) + " s this node accepts for "
                        + (owned ? "an owned item (dht.max-owned-ttl)" : "an item (dht.max-ttl)"));
  return caf::none;
}

caf::expected<bool> storage::put(const id160& key, const item& x, double now,
                                 const std::string& from) {
  if (auto err = validate_shape(x, now))
    return err;
  if (auto kept = data_.find(key); kept != data_.end())
    if (auto same = kept->second.find(x.subkey);
        same != kept->second.end() && same->second.x.expiration >= x.expiration)
      return false;  // not stored: no signature to check
  if (!x.signature.empty())
    ++signature_checks_;
  if (auto err = check_owner(key, x))
    return err;
  auto& slot = data_[key];
  auto existing = slot.find(x.subkey);
  auto refuse = [&](std::string why) {
    if (slot.empty()) {
      data_.erase(key);
      key_bytes_.erase(key);
    }
    return make_error(errc::limit_exceeded, std::move(why));
  };
  auto old_bytes = existing != slot.end() ? item_bytes(existing->second.x) : 0;
  auto new_bytes = item_bytes(x);
  // Before anything is evicted to make room: a refused item must cost others nothing.
  if (!from.empty() && limits_.max_peer_bytes > 0) {
    auto charged = peer_bytes(from) + new_bytes
                   - (existing != slot.end() && existing->second.from == from ? old_bytes : 0);
    if (charged > limits_.max_peer_bytes)
      return refuse("this peer's items here would hold " + std::to_string(charged)
                    + " bytes, over the " + std::to_string(limits_.max_peer_bytes)
                    + " one peer may store (dht.max-peer-stored-mb)");
  }
  bool owned = !x.signature.empty();
  if (existing == slot.end()) {
    bool room = slot.size() < limits_.max_subkeys || (owned && evict_plain(key, slot))
                || evict_fairly(key, slot, from);
    if (!room)
      return refuse("key holds " + std::to_string(slot.size()) + " sub-keys, the limit");
    if (entries_ >= limits_.max_entries)
      return refuse("node stores " + std::to_string(entries_) + " items, the limit");
  }
  auto key_bytes = [&] { return key_bytes_[key] - old_bytes + new_bytes; };
  while (key_bytes() > limits_.max_key_bytes && owned && evict_plain(key, slot)) {
  }
  if (key_bytes() > limits_.max_key_bytes)
    return refuse("key would hold " + std::to_string(key_bytes()) + " bytes, over the "
                  + std::to_string(limits_.max_key_bytes) + " one key may (dht.max-key-bytes)");
  if (stored_bytes_ - old_bytes + new_bytes > limits_.max_stored_bytes)
    return refuse("node stores " + std::to_string(stored_bytes_) + " bytes of items, the limit "
                  "(dht.max-stored-mb)");
  if (existing != slot.end()) {
    count(key, existing->second, false);
    existing->second = held{x, from};
  } else {
    existing = slot.emplace(x.subkey, held{x, from}).first;
    ++entries_;
  }
  count(key, existing->second, true);
  return true;
}

size_t item_bytes(const item& x) {
  constexpr size_t overhead = 48;  // expiration, framing
  return x.subkey.size() + x.value.size() + x.signature.size() + overhead;
}

size_t storage::peer_bytes(const std::string& from) const {
  auto i = peer_bytes_.find(from);
  return i != peer_bytes_.end() ? i->second : 0;
}

void storage::count(const id160& key, const held& h, bool added) {
  auto n = item_bytes(h.x);
  if (added) {
    key_bytes_[key] += n;
    stored_bytes_ += n;
    if (!h.from.empty())
      peer_bytes_[h.from] += n;
    return;
  }
  auto& under_key = key_bytes_[key];
  under_key -= std::min(under_key, n);
  stored_bytes_ -= std::min(stored_bytes_, n);
  if (auto i = peer_bytes_.find(h.from); i != peer_bytes_.end()) {
    i->second -= std::min(i->second, n);
    if (i->second == 0)
      peer_bytes_.erase(i);
  }
}

bool storage::evict_plain(const id160& key, slot_type& slot) {
  auto victim = slot.end();
  for (auto i = slot.begin(); i != slot.end(); ++i)
    if (i->second.x.signature.empty()
        && (victim == slot.end() || i->second.x.expiration < victim->second.x.expiration))
      victim = i;
  if (victim == slot.end())
    return false;
  count(key, victim->second, false);
  slot.erase(victim);
  --entries_;
  return true;
}

bool storage::evict_fairly(const id160& key, slot_type& slot, const std::string& from) {
  std::unordered_map<std::string, size_t> held_by;
  for (const auto& [subkey, h] : slot)
    ++held_by[h.from];
  auto most = std::max_element(held_by.begin(), held_by.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  if (most == held_by.end() || most->second <= held_by[from] + 1)
    return false;  // evicting would not leave the newcomer with fewer than the biggest holder
  auto victim = slot.end();
  for (auto i = slot.begin(); i != slot.end(); ++i)
    if (i->second.from == most->first
        && (victim == slot.end() || i->second.x.expiration < victim->second.x.expiration))
      victim = i;
  count(key, victim->second, false);
  slot.erase(victim);
  --entries_;
  ++fair_evictions_;
  return true;
}

std::vector<item> storage::get(const id160& key, double now) const {
  std::vector<item> out;
  auto i = data_.find(key);
  if (i == data_.end())
    return out;
  for (const auto& [subkey, h] : i->second)
    if (h.x.expiration > now)
      out.push_back(h.x);
  return out;
}

size_t storage::expire(double now) {
  size_t dropped = 0;
  for (auto i = data_.begin(); i != data_.end();) {
    auto& slot = i->second;
    for (auto j = slot.begin(); j != slot.end();) {
      if (j->second.x.expiration <= now) {
        count(i->first, j->second, false);
        j = slot.erase(j);
        ++dropped;
      } else {
        ++j;
      }
    }
    if (slot.empty()) {
      key_bytes_.erase(i->first);
      i = data_.erase(i);
    } else {
      ++i;
    }
  }
  entries_ -= dropped;
  return dropped;
}

std::vector<id160> storage::keys() const {
  std::vector<id160> out;
  out.reserve(data_.size());
  for (const auto& entry : data_)
    out.push_back(entry.first);
  return out;
}

void merge_newest(std::map<std::string, item>& into, const std::vector<item>& items) {
  for (const auto& x : items) {
    auto [pos, added] = into.emplace(x.subkey, x);
    if (!added && pos->second.expiration < x.expiration)
      pos->second = x;
  }
}

}  // namespace dmoe::dht
