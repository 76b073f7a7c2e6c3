#include "actors/dht/node_id.hpp"

#include <caf/detail/ripemd_160.hpp>

namespace dmoe::dht {

id160 distance(const id160& a, const id160& b) {
  id160 out;
  for (size_t i = 0; i < id_bytes; ++i)
    out[i] = a[i] ^ b[i];
  return out;
}

size_t common_prefix_bits(const id160& a, const id160& b) {
  for (size_t i = 0; i < id_bytes; ++i) {
    auto x = static_cast<uint8_t>(a[i] ^ b[i]);
    if (x != 0)
      return i * 8 + static_cast<size_t>(__builtin_clz(x) - 24);
  }
  return id_bits;
}

id160 key_id(std::string_view key) {
  id160 out;
  caf::detail::ripemd_160(out, std::string(key));
  return out;
}

id160 node_id_of(std::string_view public_key) {
  return key_id("dmoe-node-id:" + std::string(public_key));
}

bool holds_its_id(const node_info& who) {
  return who.public_key.size() == node_public_key_bytes && node_id_of(who.public_key) == who.id;
}

id160 random_id(std::mt19937_64& rng) {
  id160 out;
  for (auto& byte : out)
    byte = static_cast<uint8_t>(rng());
  return out;
}

id160 random_id_with_prefix(const id160& base, size_t prefix_bits, std::mt19937_64& rng) {
  auto out = random_id(rng);
  if (prefix_bits >= id_bits)
    return base;
  for (size_t bit = 0; bit <= prefix_bits; ++bit) {
    auto byte = bit / 8;
    auto mask = static_cast<uint8_t>(0x80u >> (bit % 8));
    bool base_bit = (base[byte] & mask) != 0;
    bool want = bit < prefix_bits ? base_bit : !base_bit;
    out[byte] = static_cast<uint8_t>(want ? (out[byte] | mask) : (out[byte] & ~mask));
  }
  return out;
}

std::string to_hex(const id160& id) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(id_bytes * 2);
  for (auto byte : id) {
    out += digits[byte >> 4];
    out += digits[byte & 0xF];
  }
  return out;
}

std::string short_hex(const id160& id) {
  return to_hex(id).substr(0, 8);
}

}  // namespace dmoe::dht
