// 160-bit DHT ids and the XOR metric.
#pragma once

#include <random>
#include <string>
#include <string_view>

#include "messages/dht_codec.hpp"

namespace dmoe::dht {

constexpr size_t id_bits = id_bytes * 8;

/// XOR distance; ids compare lexicographically, so distances do too.
id160 distance(const id160& a, const id160& b);

/// Number of leading bits `a` and `b` share (160 when equal).
size_t common_prefix_bits(const id160& a, const id160& b);

/// The id under which a user key is stored: RIPEMD-160 of its bytes.
id160 key_id(std::string_view key);

/// A node's id: RIPEMD-160 of its public key (with a prefix of its own, so that no user key
/// maps to the same id). A node cannot choose its id without making keys until one fits, and
/// cannot take another node's id without that node's key (TLS aside, a peer can still copy a
/// public key; the ping to its endpoint, node_state::heard_from, catches that).
id160 node_id_of(std::string_view public_key);

/// Whether `who` carries a public key whose node id is its id.
bool holds_its_id(const node_info& who);

id160 random_id(std::mt19937_64& rng);

/// A random id sharing exactly `prefix_bits` leading bits with `base` (the next bit differs).
id160 random_id_with_prefix(const id160& base, size_t prefix_bits, std::mt19937_64& rng);

/// First bytes in hex, for logs.
std::string short_hex(const id160& id);
std::string to_hex(const id160& id);

/// True when `a` is closer to `target` than `b`.
inline bool closer(const id160& target, const id160& a, const id160& b) {
  return distance(a, target) < distance(b, target);
}

}  // namespace dmoe::dht
