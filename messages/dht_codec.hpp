// Native forms of the DHT RPCs (schema/dht.capnp) and their codecs. No LibTorch here.
// Decoding validates everything that does not need the receiver's clock: id lengths, sizes,
// counts, finite expirations. Expiration windows are checked by the storage, which knows `now`.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/payload.hpp"

namespace dmoe::dht {

constexpr size_t id_bytes = 20;
using id160 = std::array<uint8_t, id_bytes>;

constexpr size_t default_max_endpoint_bytes = 256;
constexpr size_t default_max_subkey_bytes = 1024;
constexpr size_t item_signature_bytes = 64;  // Ed25519 (actors/dht/ownership.hpp)
constexpr size_t default_max_value_bytes = 64 * 1024;
constexpr size_t default_max_items_per_message = 4096;
constexpr size_t default_max_contacts_per_message = 64;

struct codec_limits {
  size_t max_endpoint_bytes = default_max_endpoint_bytes;
  size_t max_subkey_bytes = default_max_subkey_bytes;
  size_t max_value_bytes = default_max_value_bytes;
  size_t max_items_per_message = default_max_items_per_message;
  size_t max_contacts_per_message = default_max_contacts_per_message;
  wire_limits wire;
};

struct node_info {
  id160 id{};
  std::string endpoint;
  std::string public_key{};  // raw Ed25519 key (node_public_key_bytes) or empty
  friend bool operator==(const node_info& a, const node_info& b) {
    return a.id == b.id && a.endpoint == b.endpoint && a.public_key == b.public_key;
  }
};

/// Size of a node's public key on the wire (a NodeInfo carries this many bytes or none).
constexpr size_t node_public_key_bytes = 32;

/// One stored item; an empty subkey is the key's plain value. Bytes are kept in std::string.
/// A sub-key "LABEL#OWNER" is owned: the item carries its owner's signature
/// (actors/dht/ownership.hpp); other items carry none.
struct item {
  std::string subkey;
  std::string value;
  double expiration = 0;  // seconds since the Unix epoch
  std::string signature{};  // empty, or 64 bytes (Ed25519)
  friend bool operator==(const item& a, const item& b) {
    return a.subkey == b.subkey && a.value == b.value && a.expiration == b.expiration
           && a.signature == b.signature;
  }
};

struct ping_request {};
struct store_request {
  id160 key{};
  std::vector<item> items;
};
struct find_node_request {
  id160 target{};
};
struct find_value_request {
  id160 key{};
};

/// The most bytes a request's nonce may have.
constexpr size_t max_nonce_bytes = 32;

struct request {
  node_info sender;
  std::variant<ping_request, store_request, find_node_request, find_value_request> body;
  std::string nonce{};  // random bytes the responder signs; may be empty
};

struct pong {};
struct store_result {
  std::vector<bool> accepted;
};
struct find_node_result {
  std::vector<node_info> nodes;
};
struct find_value_result {
  std::vector<item> items;
  std::vector<node_info> closer;
};

struct response {
  node_info responder;
  std::variant<pong, store_result, find_node_result, find_value_result, caf::error> body;
  std::string key_proof{};  // the responder's signature of the nonce: empty, or 64 bytes
};

payload encode(const request& req);
payload encode(const response& resp);

caf::expected<request> decode_request(const payload& in, const codec_limits& limits = {});
caf::expected<response> decode_response(const payload& in, const codec_limits& limits = {});

}  // namespace dmoe::dht
