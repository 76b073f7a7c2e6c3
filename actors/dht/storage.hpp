// What one DHT node stores: items under 160-bit keys, each sub-key with its own expiration.
// The item with the later expiration wins; expired items are never returned. Every input is
// checked against the limits before it touches state. Pure logic: the caller passes `now`.
// An item under an owned sub-key (actors/dht/ownership.hpp) is stored only with its owner's
// signature and a short life (max_owned_ttl), so only its owner can write or replace it and no
// declaration outlives its writer by more than minutes; when a key is full, an owned item
// takes the place of the plain item that expires first.
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
  double max_owned_ttl = 120.0;  // the same for owned items (declarations)
  size_t max_subkey_bytes = default_max_subkey_bytes;
  // Bytes (item_bytes) under one key: a findValue answer must fit in a frame, or the key's
  // lookups fail swarm-wide.
  size_t max_key_bytes = size_t{8} << 20;
  size_t max_stored_bytes = size_t{1} << 30;  // over all keys
};

/// What an item counts against the byte limits: its bytes and a fixed overhead.
size_t item_bytes(const item& x);

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

  /// Checks `x`, to be stored under `key`, against the limits, the clock and (owned) its
  /// signature. An error says why it is refused.
  caf::error validate(const id160& key, const item& x, double now) const;

  /// Stores `x` unless an item with the same or a later expiration is already there.
  /// Returns true when stored, false when a newer item won, or an error (see validate). An
  /// owned item's signature is checked only when it would be stored, so copies of an item
  /// cost one check.
  caf::expected<bool> put(const id160& key, const item& x, double now);

  /// Signatures checked so far.
  uint64_t signature_checks() const {
    return signature_checks_;
  }

  /// The unexpired items under `key`.
  std::vector<item> get(const id160& key, double now) const;

  /// Drops expired items; returns how many.
  size_t expire(double now);

  size_t size() const {
    return entries_;
  }
  size_t bytes() const {
    return stored_bytes_;
  }
  size_t key_count() const {
    return data_.size();
  }
  std::vector<id160> keys() const;
  const storage_limits& limits() const {
    return limits_;
  }

private:
  /// validate without the signature check.
  caf::error validate_shape(const item& x, double now) const;
  /// Drops the plain item under `key` that expires first; false when it holds none.
  bool evict_plain(const id160& key, std::map<std::string, item>& slot);
  void count(const id160& key, const item& x, bool added);

  storage_limits limits_;
  std::unordered_map<id160, std::map<std::string, item>, id_hash> data_;
  std::unordered_map<id160, size_t, id_hash> key_bytes_;
  size_t stored_bytes_ = 0;
  size_t entries_ = 0;
  uint64_t signature_checks_ = 0;
};

/// Keeps, for every sub-key, the item with the latest expiration.
void merge_newest(std::map<std::string, item>& into, const std::vector<item>& items);

}  // namespace dmoe::dht
