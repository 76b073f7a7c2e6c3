// What one DHT node stores: items under 160-bit keys, each sub-key with its own expiration.
// The item with the later expiration wins; expired items are never returned. Every input is
// checked against the limits before it touches state. Pure logic: the caller passes `now`.
// An item under an owned sub-key (actors/dht/ownership.hpp) is stored only with its owner's
// signature and a short life (max_owned_ttl), so only its owner can write or replace it and no
// declaration outlives its writer by more than minutes; when a key is full, an owned item
// takes the place of the plain item that expires first. Each item counts against the peer that
// stored it here (its identity: runtime/peer_identity.hpp; "" for this node's own process, which
// is not limited), so no one peer fills the node; the sub-keys of a full key are shared the
// same way: a newcomer's item takes the place of one of the peer holding the most there, so no
// peer can lock others (a restarted server's declaration) out of a key.
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
  size_t max_peer_bytes = size_t{64} << 20;  // stored by one peer (0: no limit)
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

  /// Stores `x`, from peer `from` ("": this node's process), unless an item with the same or a
  /// later expiration is already there. Returns true when stored, false when a newer item won,
  /// or an error (see validate; limit_exceeded over a limit). An owned item's signature is
  /// checked only when it would be stored, so copies of an item cost one check.
  caf::expected<bool> put(const id160& key, const item& x, double now,
                          const std::string& from = {});

  /// Bytes (item_bytes) of the items peer `from` stored here.
  size_t peer_bytes(const std::string& from) const;

  /// Signatures checked so far.
  uint64_t signature_checks() const {
    return signature_checks_;
  }

  /// Items dropped so far to give a newcomer its share of a full key.
  uint64_t fair_evictions() const {
    return fair_evictions_;
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
  struct held {
    item x;
    std::string from;  // the peer it counts against
  };
  using slot_type = std::map<std::string, held>;
  /// Drops the plain item under `key` that expires first; false when it holds none.
  bool evict_plain(const id160& key, slot_type& slot);
  /// Makes room under a full `key` for one more item of `from`: drops the item expiring first of
  /// the peer holding the most there, while that peer holds more than `from` would; false when
  /// none does.
  bool evict_fairly(const id160& key, slot_type& slot, const std::string& from);
  void count(const id160& key, const held& h, bool added);

  storage_limits limits_;
  std::unordered_map<id160, slot_type, id_hash> data_;
  std::unordered_map<id160, size_t, id_hash> key_bytes_;
  std::unordered_map<std::string, size_t> peer_bytes_;  // peers holding items only
  size_t stored_bytes_ = 0;
  size_t entries_ = 0;
  uint64_t signature_checks_ = 0;
  uint64_t fair_evictions_ = 0;
};

/// Keeps, for every sub-key, the item with the latest expiration.
void merge_newest(std::map<std::string, item>& into, const std::vector<item>& items);

}  // namespace dmoe::dht
