// The averaging protocol's messages (schema/average.capnp) as plain structs, and the encodings
// of float vectors on its wire (float32, float16, int8 with a scale per block). Decoding checks
// everything a peer could get wrong: sizes that do not match the encoding, indexes out of range,
// bounds that do not ascend, non-finite values.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <caf/expected.hpp>

#include "messages/limits.hpp"
#include "messages/payload.hpp"

namespace dmoe::avg {

enum class encoding : uint8_t { float32, float16, int8 };

/// int8: elements sharing one scale (max |x| / 127 of the block).
constexpr uint32_t block_elements = 128;
/// Elements in one piece: pieces are the bounded messages a part crosses the wire in.
constexpr uint32_t piece_elements = 1u << 16;

struct member {
  std::string id;        // DHT owner tag (hex); leaders are the smallest
  std::string endpoint;  // empty: client mode
  uint64_t outer_step = 0;
  uint64_t fingerprint = 0;
  double weight = 0;
  uint64_t elements = 0;
};

struct piece {
  uint32_t part = 0;
  uint64_t offset = 0;
  uint32_t count = 0;
  encoding enc = encoding::float32;
  std::string data;
  std::vector<float> scales;
};

struct group {
  uint64_t id = 0;
  std::vector<member> members;
  std::vector<uint32_t> reducers;  // parts[i] is reduced by members[reducers[i]]
  std::vector<uint64_t> bounds;    // reducers.size() + 1 ascending offsets, 0 .. elements
  encoding enc = encoding::float32;

  size_t parts() const {
    return reducers.size();
  }
  uint64_t part_size(size_t part) const {
    return bounds[part + 1] - bounds[part];
  }
};

struct decision {
  std::vector<uint32_t> survivors;
  std::vector<uint32_t> orphans;
};

struct state_header {
  std::string run;
  std::string model;
  uint64_t outer_step = 0;
  uint64_t fingerprint = 0;
  uint64_t elements = 0;
};

struct contribute {
  uint32_t sender = 0;
  piece data;
};
struct report {
  uint32_t part = 0;
  std::vector<uint32_t> senders;
};
struct outcome {};
struct fetch {
  uint32_t part = 0;
  uint64_t offset = 0;
  uint32_t count = 0;
};
struct state_fetch {
  uint64_t offset = 0;
  uint32_t count = 0;
  bool pinned = false;      // false: the newest state; true: the one of outer_step
  uint64_t outer_step = 0;
};

struct request {
  std::string run;
  uint64_t group_id = 0;
  std::variant<member, contribute, report, outcome, fetch, state_fetch> body;
};

struct ack {};
struct state_reply {
  state_header header;
  piece values;
};

using reply = std::variant<ack, group, decision, piece, state_reply>;

payload encode_request(const request& r);
caf::expected<request> decode_request(const payload& in, const wire_limits& limits);

/// A reply, or an ErrorReply when `r` holds an error.
payload encode_reply(const caf::expected<reply>& r);
/// The reply; an ErrorReply decodes to its error.
caf::expected<reply> decode_reply(const payload& in, const wire_limits& limits);

/// `count` values encoded as a piece of `part` starting at `offset`.
piece encode_piece(const float* values, uint32_t count, encoding enc, uint32_t part,
                   uint64_t offset);
/// The piece's values; an error for non-finite ones (a sender's NaN or an overflowing float16).
caf::expected<std::vector<float>> decode_piece(const piece& p);

const char* to_string(encoding enc);

}  // namespace dmoe::avg
