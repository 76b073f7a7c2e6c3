// What one DHT node stores: items under 160-bit keys, each sub-key with its own expiration.
// The item with the later expiration wins; expired items are never returned. Every input is
// checked against the limits before it touches state. Pure logic: the caller passes `now`.
#pragma once

#include <cstring>
#include <map>
#include <unordered_map>
#include <vector>

#include <caf/expected.hpp>

#include "actors/dht/node_id.hpp"

namespace dmoe::dht {

struct storage_limits {
  size_t max_entries = 100000;   // items over all keys
  size_t max_subkeys = 1024;     // items under one key
  size_t max_value_bytes = 64 * 1024;
  double max_ttl = 24 * 3600.0;  // latest acceptable expiration, in seconds from now
};

struct id_hash {
  size_t operator()(const id160& id) const noexcept {
    size_t h;
    static_assert(sizeof(h) <= id_bytes);
    std::memcpy(&h, id.data(), sizeof(h));
    return h;
  }
};

class storage {
public:
  explicit storage(storage_limits limits) : limits_(limits) {
  }

  /// Checks `x` against the limits and the clock. An error says why it is refused.
  caf::error validate(const item& x, double now) const;

  /// Stores `x` unless an item with the same or a later expiration is already there.
  /// Returns true when stored, false when a newer item won, or an error (see validate).
  caf::expected<bool> put(const id160& key, const item& x, double now);

  /// The unexpired items under `key`.
  std::vector<item> get(const id160& key, double now) const;

  /// Drops expired items; returns how many.
  size_t expire(double now);

  size_t size() const {
    return entries_;
  }
  size_t key_count() const {
    return data_.size();
  }
  std::vector<id160> keys() const;
  const storage_limits& limits() const {
    return limits_;
  }

private:
  storage_limits limits_;
  std::unordered_map<id160, std::map<std::string, item>, id_hash> data_;
  size_t entries_ = 0;
};

/// Keeps, for every sub-key, the item with the latest expiration.
void merge_newest(std::map<std::string, item>& into, const std::vector<item>& items);

}  // namespace dmoe::dht
