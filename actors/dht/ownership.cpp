#include "actors/dht/ownership.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include <openssl/evp.h>

#include "messages/errors.hpp"

namespace dmoe::dht {

namespace {

// Separates this use of a key from any other it may have: a signature over an item can never
// be replayed as something else.
constexpr std::string_view signature_domain = "dmoe dht item v1";

constexpr char hex_digits[] = "0123456789abcdef";

std::string to_hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(hex_digits[c >> 4]);
    out.push_back(hex_digits[c & 15]);
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;  // upper case is refused: one spelling per owner, one sub-key per owner
}

std::optional<std::string> from_hex(std::string_view text) {
  if (text.size() % 2 != 0)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

// Little-endian whatever the host, so signatures verify across machines.
void append_u64(std::string& out, uint64_t x) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xff));
}

void append_sized(std::string& out, std::string_view bytes) {
  append_u64(out, bytes.size());
  out.append(bytes);
}

bool verify_signature(const std::string& public_key, std::string_view message,
                      std::string_view signature) {
  if (public_key.size() != public_key_bytes || signature.size() != signature_bytes)
    return false;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{
    EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                reinterpret_cast<const unsigned char*>(public_key.data()),
                                public_key.size()),
    EVP_PKEY_free};
  if (!key)
    return false;  // not a point on the curve
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), EVP_MD_CTX_free};
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1)
    return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size())
         == 1;
}

}  // namespace

// ---- identity ----

std::shared_ptr<const identity> identity::generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (key == nullptr)
    throw std::runtime_error("OpenSSL cannot make an Ed25519 key");
  return std::shared_ptr<const identity>{new identity(key)};
}

identity::identity(EVP_PKEY* key) : key_(key), public_key_(public_key_bytes, '\0') {
  size_t size = public_key_.size();
  EVP_PKEY_get_raw_public_key(key_, reinterpret_cast<unsigned char*>(public_key_.data()), &size);
}

identity::~identity() {
  EVP_PKEY_free(key_);
}

std::string identity::owner_tag() const {
  return to_hex(public_key_);
}

std::string identity::sign(std::string_view message) const {
  std::string signature(signature_bytes, '\0');
  size_t size = signature.size();
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), EVP_MD_CTX_free};
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_) != 1
      || EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                        reinterpret_cast<const unsigned char*>(message.data()), message.size())
           != 1)
    throw std::runtime_error("OpenSSL cannot sign with Ed25519");
  return signature;
}

// ---- items ----

caf::expected<subkey_parts> parse_subkey(std::string_view subkey) {
  auto at = subkey.rfind(owner_separator);
  if (at == std::string_view::npos)
    return subkey_parts{subkey, std::nullopt};
  auto owner = from_hex(subkey.substr(at + 1));
  if (!owner || owner->size() != public_key_bytes)
    return make_error(errc::invalid_argument,
                      "sub-key '" + std::string{subkey.substr(0, 80)}
                        + "' names no owner after '#' (expected 64 lower-case hex digits)");
  return subkey_parts{subkey.substr(0, at), std::move(owner)};
}

std::string owned_subkey(std::string_view label, const identity& owner) {
  std::string out{label};
  out.push_back(owner_separator);
  out += owner.owner_tag();
  return out;
}

std::string signed_bytes(const id160& key, const item& x) {
  std::string out{signature_domain};
  out.append(reinterpret_cast<const char*>(key.data()), key.size());
  append_sized(out, x.subkey);
  append_sized(out, x.value);
  uint64_t expiration_bits = 0;
  static_assert(sizeof(expiration_bits) == sizeof(x.expiration));
  std::memcpy(&expiration_bits, &x.expiration, sizeof(expiration_bits));
  append_u64(out, expiration_bits);
  return out;
}

item owned_item(const identity& owner, const id160& key, std::string_view label, std::string value,
                double expiration) {
  item x{owned_subkey(label, owner), std::move(value), expiration};
  x.signature = owner.sign(signed_bytes(key, x));
  return x;
}

caf::error check_owner(const id160& key, const item& x) {
  auto parts = parse_subkey(x.subkey);
  if (!parts)
    return make_error(errc::forbidden, message_of(parts.error()));
  if (!parts->owner) {
    if (!x.signature.empty())
      return make_error(errc::invalid_argument, "a signature on an item without an owner");
    return caf::none;
  }
  if (x.signature.empty())
    return make_error(errc::forbidden, "an item under the owned sub-key '"
                                         + std::string{parts->label.substr(0, 80)}
                                         + "#...' without its owner's signature");
  if (!verify_signature(*parts->owner, signed_bytes(key, x), x.signature))
    return make_error(errc::forbidden, "an item under the owned sub-key '"
                                         + std::string{parts->label.substr(0, 80)}
                                         + "#...' whose signature is not its owner's");
  return caf::none;
}

bool is_verified_owned(const id160& key, const item& x) {
  return !x.signature.empty() && !check_owner(key, x);
}

namespace {

template <class Drop>
size_t remove_items(std::vector<item>& items, Drop drop) {
  auto kept_end = std::remove_if(items.begin(), items.end(), drop);
  auto removed = static_cast<size_t>(items.end() - kept_end);
  items.erase(kept_end, items.end());
  return removed;
}

}  // namespace

size_t drop_forged(const id160& key, std::vector<item>& items) {
  return remove_items(items, [&](const item& x) { return static_cast<bool>(check_owner(key, x)); });
}

bool verified_items::check(const id160& key, const item& x) {
  if (x.signature.empty())
    return false;
  auto exact = x.signature + signed_bytes(key, x);
  if (known_.count(exact) > 0) {
    ++hits_;
    return true;
  }
  ++verifications_;
  if (check_owner(key, x))
    return false;
  if (order_.size() >= capacity_) {
    known_.erase(order_.front());
    order_.pop_front();
  }
  order_.push_back(exact);
  known_.insert(std::move(exact));
  return true;
}

size_t keep_verified_owned(const id160& key, std::vector<item>& items, verified_items* known) {
  return remove_items(items, [&](const item& x) {
    return known != nullptr ? !known->check(key, x) : !is_verified_owned(key, x);
  });
}

std::string key_proof_bytes(std::string_view nonce, const node_info& responder) {
  std::string out{"dmoe.dht.key-proof"};
  append_sized(out, nonce);
  append_sized(out, std::string_view{reinterpret_cast<const char*>(responder.id.data()),
                                     responder.id.size()});
  append_sized(out, responder.endpoint);
  return out;
}

std::string prove_key(const identity& key, std::string_view nonce, const node_info& responder) {
  return key.sign(key_proof_bytes(nonce, responder));
}

bool proves_key(const response& resp, std::string_view nonce) {
  return verify_signature(resp.responder.public_key, key_proof_bytes(nonce, resp.responder),
                          resp.key_proof);
}

}  // namespace dmoe::dht
