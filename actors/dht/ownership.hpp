// DHT items owned by their writers. A sub-key of the form "LABEL#OWNER" (OWNER: the writer's
// Ed25519 public key, 64 hex digits) names its owner; such an item is stored, kept and used
// only with its owner's signature over the item's key id, sub-key, value and expiration, so
// only the owner can write or replace it, and a forged or altered copy is refused by every
// node and router. Sub-keys without '#' (and the empty sub-key, a key's plain value) stay
// unsigned; routers do not use them.
//
// Ed25519 through OpenSSL 3's EVP (already dmoe's TLS library, so no second crypto library):
// 32-byte public keys, 64-byte deterministic signatures, constant-time verification.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/dht_codec.hpp"

using EVP_PKEY = struct evp_pkey_st;

namespace dmoe::dht {

constexpr size_t public_key_bytes = 32;
constexpr size_t signature_bytes = item_signature_bytes;
constexpr char owner_separator = '#';

/// A node's signing key. Made fresh for each process unless loaded: declarations expire within
/// minutes, so a restarted node simply declares again under its new key.
class identity {
public:
  static std::shared_ptr<const identity> generate();

  ~identity();
  identity(const identity&) = delete;
  identity& operator=(const identity&) = delete;

  /// The raw 32-byte public key.
  const std::string& public_key() const {
    return public_key_;
  }

  /// The public key in hex: what an owned sub-key carries after '#'.
  std::string owner_tag() const;

  /// The 64-byte signature of `message`.
  std::string sign(std::string_view message) const;

private:
  explicit identity(EVP_PKEY* key);

  EVP_PKEY* key_;
  std::string public_key_;
};

/// A sub-key split at its owner: "17#ab12.." -> label "17", owner 32 bytes.
struct subkey_parts {
  std::string_view label;
  std::optional<std::string> owner;  // raw public key; empty for a plain sub-key
};

/// The parts of `subkey` (the label views it: keep it alive); an error for a '#' not followed
/// by a well-formed owner.
caf::expected<subkey_parts> parse_subkey(std::string_view subkey);

/// LABEL#OWNER for `owner`.
std::string owned_subkey(std::string_view label, const identity& owner);

/// What the owner signs: a domain tag, the key id, sub-key, value and expiration.
std::string signed_bytes(const id160& key, const item& x);

/// An item under `label`, owned and signed by `owner`.
item owned_item(const identity& owner, const id160& key, std::string_view label, std::string value,
                double expiration);

/// What a DHT node signs to prove that it holds the key its node id derives from: a domain tag,
/// the requester's nonce, its node id and endpoint (the answer cannot be moved to another node or
/// endpoint, nor replayed for another request).
std::string key_proof_bytes(std::string_view nonce, const node_info& responder);

/// The signature of `nonce` for `responder` (this node, holding `key`).
std::string prove_key(const identity& key, std::string_view nonce, const node_info& responder);

/// Whether `resp` proves that its responder holds the public key it names, for a request that
/// carried `nonce` (holds_its_id then says whether its node id derives from that key).
bool proves_key(const response& resp, std::string_view nonce);

/// caf::none for a plain item, or an owned one carrying its owner's valid signature; otherwise
/// an errc::forbidden error saying why it is refused.
caf::error check_owner(const id160& key, const item& x);

/// Whether `x` is owned and its signature verifies (what a router uses).
bool is_verified_owned(const id160& key, const item& x);

/// Removes the items under `key` that check_owner refuses (forged owned items; plain ones stay);
/// returns how many.
size_t drop_forged(const id160& key, std::vector<item>& items);

/// Owned items whose signature verified, remembered exactly (key id, sub-key with its owner,
/// value, expiration and signature), so the same item read again is not verified again. A
/// server re-declares every few seconds and routers look keys up more often than that: most of
/// a lookup's items are ones it has seen. Bounded: the oldest are forgotten first.
class verified_items {
public:
  explicit verified_items(size_t capacity = 16384) : capacity_(capacity) {
  }

  /// is_verified_owned, answered from memory for an item that verified before.
  bool check(const id160& key, const item& x);

  uint64_t verifications() const {
    return verifications_;
  }
  uint64_t hits() const {
    return hits_;
  }

private:
  size_t capacity_;
  std::unordered_set<std::string> known_;
  std::deque<std::string> order_;
  uint64_t verifications_ = 0;
  uint64_t hits_ = 0;
};

/// Keeps only the items under `key` that are owned and verified (through `known` when given);
/// returns how many went.
size_t keep_verified_owned(const id160& key, std::vector<item>& items,
                           verified_items* known = nullptr);

}  // namespace dmoe::dht
