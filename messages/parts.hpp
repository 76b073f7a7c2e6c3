// Large payloads cross node boundaries in parts.
//
// CAF 0.17's middleman refreshes a connection's "last seen" time only when a whole message has
// arrived, and drops the connection after middleman.connection-timeout without one. On a slow
// link one big message (a batch of activations) can take longer than that to arrive, and the
// connection would be cut while it is still flowing. So a requester sends a payload bigger than
// `part_bytes` as (wire_part_atom, transfer, part) messages followed by the request carrying the
// whole payload's size and its last part, and the answering gateway sends a big reply the same
// way: parts, then the reply with the size and the last part. CAF delivers one sender's messages
// to one receiver in order, so the parts are there before the message that completes them. The
// receiver buffers parts under limits (bytes per transfer, transfers, bytes per sending node,
// bytes in all), drops transfers that stall, and refuses a whole whose size is not the one
// announced (a part was dropped on the way, or a peer lies).
// The transfers and bytes under way are shared fairly among sending nodes: when they are used
// up, a node's new transfer or part takes the place of a transfer of the node holding the most
// (the one it heard from last longest ago), as long as that node holds more than the newcomer.
// A peer that opens transfers and sends nothing more (zero-byte parts hold a slot) cannot keep
// others' calls in parts from being served.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <unordered_map>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/node_id.hpp>

#include "messages/payload.hpp"

namespace dmoe {

using wire_part_atom = caf::atom_constant<caf::atom("wire_part")>;

/// Cuts `whole` into parts of at most `part_bytes` (at least one part, in order).
std::vector<payload> split_payload(payload&& whole, uint64_t part_bytes);

/// Identifies one transfer: its sender and the sender's transfer number.
struct transfer_key {
  caf::actor_addr sender;
  uint64_t transfer = 0;
  bool operator==(const transfer_key& other) const {
    return transfer == other.transfer && sender == other.sender;
  }
};

struct transfer_key_hash {
  size_t operator()(const transfer_key& k) const {
    return std::hash<caf::actor_addr>{}(k.sender) ^ (std::hash<uint64_t>{}(k.transfer) * 31);
  }
};

struct part_limits {
  uint64_t max_transfer_bytes = default_max_message_bytes;  // one reassembled payload at most
  uint64_t max_total_bytes = 2 * default_max_message_bytes;  // every transfer under way at most
  size_t max_transfers = 256;                                // transfers under way at most
  uint64_t max_node_bytes = default_max_message_bytes / 4;   // one sending node's transfers
};

/// Parts received ahead of the message that completes them (pure logic; time passed in).
class part_buffer {
public:
  explicit part_buffer(part_limits limits = {}) : limits_(limits) {
  }

  /// Keeps `part` of transfer `key`, in place of transfers of nodes holding more when the
  /// transfers or bytes under way are used up (the header). Over a limit, the transfer is
  /// dropped and the error says which limit (errc::limit_exceeded); its later parts start a
  /// new, equally bounded transfer that finish() then refuses for its size.
  caf::error add(const transfer_key& key, payload&& part, double now);

  /// The whole payload: the parts kept for `key` followed by `last` (which alone is the whole
  /// payload when no part came before it). Errors: the whole is not `total_bytes` long
  /// (errc::malformed) or exceeds the transfer limit (errc::limit_exceeded).
  caf::expected<payload> finish(const transfer_key& key, uint64_t total_bytes, payload&& last);

  void drop(const transfer_key& key);

  /// Drops transfers whose last part arrived before `before`; returns how many.
  size_t expire(double before);

  size_t transfers() const {
    return pending_.size();
  }
  uint64_t bytes() const {
    return total_bytes_;
  }
  /// Transfers dropped to make room for a node holding fewer, since the start.
  size_t evicted() const {
    return evicted_;
  }

private:
  struct pending {
    std::vector<char> bytes;
    double last_seen = 0;
  };

  struct node_share {
    uint64_t bytes = 0;
    size_t transfers = 0;
  };

  void charge(const transfer_key& key, uint64_t bytes);
  void refund(const transfer_key& key, uint64_t bytes);
  void erase(std::unordered_map<transfer_key, pending, transfer_key_hash>::iterator i);
  /// Drops the stalest transfer of the node (other than `newcomer`) holding the most transfers,
  /// or bytes when `by_bytes`, if it holds more than `newcomer` would with `extra` added;
  /// whether one was dropped.
  bool evict_for(const caf::node_id& newcomer, bool by_bytes, uint64_t extra);

  part_limits limits_;
  std::unordered_map<transfer_key, pending, transfer_key_hash> pending_;
  std::map<caf::node_id, node_share> shares_;  // what each sending node has under way
  uint64_t total_bytes_ = 0;
  size_t evicted_ = 0;
};

}  // namespace dmoe
