#include "actors/dht/storage.hpp"

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

caf::expected<bool> storage::put(const id160& key, const item& x, double now) {
  if (auto err = validate_shape(x, now))
    return err;
  if (auto held = data_.find(key); held != data_.end())
    if (auto same = held->second.find(x.subkey);
        same != held->second.end() && same->second.expiration >= x.expiration)
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
  bool owned = !x.signature.empty();
  if (existing == slot.end()) {
    bool room = slot.size() < limits_.max_subkeys || (owned && evict_plain(key, slot));
    if (!room)
      return refuse("key holds " + std::to_string(slot.size()) + " sub-keys, the limit");
    if (entries_ >= limits_.max_entries)
      return refuse("node stores " + std::to_string(entries_) + " items, the limit");
  }
  auto old_bytes = existing != slot.end() ? item_bytes(existing->second) : 0;
  auto new_bytes = item_bytes(x);
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
    existing->second = x;
  } else {
    slot.emplace(x.subkey, x);
    ++entries_;
  }
  count(key, x, true);
  return true;
}

size_t item_bytes(const item& x) {
  constexpr size_t overhead = 48;  // expiration, framing
  return x.subkey.size() + x.value.size() + x.signature.size() + overhead;
}

void storage::count(const id160& key, const item& x, bool added) {
  auto n = item_bytes(x);
  if (added) {
    key_bytes_[key] += n;
    stored_bytes_ += n;
    return;
  }
  auto& held = key_bytes_[key];
  held -= std::min(held, n);
  stored_bytes_ -= std::min(stored_bytes_, n);
}

bool storage::evict_plain(const id160& key, std::map<std::string, item>& slot) {
  auto victim = slot.end();
  for (auto i = slot.begin(); i != slot.end(); ++i)
    if (i->second.signature.empty()
        && (victim == slot.end() || i->second.expiration < victim->second.expiration))
      victim = i;
  if (victim == slot.end())
    return false;
  count(key, victim->second, false);
  slot.erase(victim);
  --entries_;
  return true;
}

std::vector<item> storage::get(const id160& key, double now) const {
  std::vector<item> out;
  auto i = data_.find(key);
  if (i == data_.end())
    return out;
  for (const auto& [subkey, x] : i->second)
    if (x.expiration > now)
      out.push_back(x);
  return out;
}

size_t storage::expire(double now) {
  size_t dropped = 0;
  for (auto i = data_.begin(); i != data_.end();) {
    auto& slot = i->second;
    for (auto j = slot.begin(); j != slot.end();) {
      if (j->second.expiration <= now) {
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
