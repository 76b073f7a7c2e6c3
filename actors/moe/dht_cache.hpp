// The router's cache of DHT lookups of grid prefixes, as verified and decoded declarations
// (pure logic; time is passed in as seconds since the epoch).
// A lookup is fresh for `max_age` seconds. After that its unexpired items stay usable while the
// router looks the key up again in the background, so on a slow network a job does not wait for
// the DHT when live experts are known. An item is never returned past its own expiration, so an
// expert whose declaration lapsed is never offered to the beam search again.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/moe/beam_search.hpp"
#include "messages/declaration.hpp"
#include "messages/dht_codec.hpp"

namespace dmoe::moe {

/// One server's declaration under a prefix key (messages/declaration.hpp), until `expiration`.
struct declared {
  prefix_declaration children;
  double expiration = 0;
  std::string owner;  // the declaring key (raw Ed25519), from the item's owned sub-key
};

/// The declarations among a lookup's items: those that decode (the caller has kept only items
/// signed by their owners); `skipped` counts the others.
std::vector<declared> read_declarations(const std::vector<dht::item>& items,
                                        size_t* skipped = nullptr);

class dht_cache {
public:
  explicit dht_cache(double max_age_seconds) : max_age_(max_age_seconds) {
  }

  void put(const std::string& key, std::vector<declared> items, double now);

  /// The unexpired items of a lookup made less than max_age ago; nullptr when none is that fresh.
  const std::vector<declared>* fresh(const std::string& key, double now);

  /// The unexpired items of a lookup of any age; nullptr when none is left.
  const std::vector<declared>* usable(const std::string& key, double now);

  /// Drops lookups without an unexpired item (bounds the cache's size).
  void evict_stale(double now);

  size_t size() const {
    return entries_.size();
  }

private:
  struct entry {
    std::vector<declared> items;
    double fetched_at = 0;
  };
  double max_age_;
  std::unordered_map<std::string, entry> entries_;
};

/// The DHT key listing the live children of `coords` under grid `name`: {} -> "ffn.",
/// {3} -> "ffn.3.".
std::string prefix_key(const std::string& name, const grid_coords& coords);

/// The expert id of full coordinates: {3, 17} -> "ffn.3.17".
std::string expert_id_of(const std::string& name, const grid_coords& coords);

/// The children the declarations of a prefix unexpired at `now` name, each once, ascending.
std::vector<int64_t> child_coordinates(const std::vector<declared>& items, double now = 0);

}  // namespace dmoe::moe
