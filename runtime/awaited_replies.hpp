// The replies a node awaits from each peer node: one per request it sent there (pure logic).
// The wire guard takes a reply from a peer only when it answers a request this node sent that
// peer (runtime/wire_guard.hpp): without it, a peer that learned an actor's request ids could
// answer the actor's calls to other nodes. Bounded: per node the newest max_per_node requests
// (older ones have long timed out), and the newest max_nodes nodes sent to.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <unordered_set>

#include <caf/fwd.hpp>
#include <caf/node_id.hpp>

namespace dmoe {

class awaited_replies {
public:
  explicit awaited_replies(size_t max_per_node = size_t{1} << 16, size_t max_nodes = 4096);

  /// Actor `from` of this node sent request `request` (its message id without flags) to node
  /// `to`.
  void sent(const caf::node_id& to, caf::actor_id from, uint64_t request);

  /// Whether a reply from node `by` to actor `to` for `request` answers a request sent there;
  /// true at most once per request.
  bool answered(const caf::node_id& by, caf::actor_id to, uint64_t request);

  size_t awaited(const caf::node_id& from) const;

private:
  struct key {
    caf::actor_id actor;
    uint64_t request;
    bool operator==(const key& other) const {
      return actor == other.actor && request == other.request;
    }
  };
  struct key_hash {
    size_t operator()(const key& k) const {
      return std::hash<uint64_t>{}(k.request) ^ (std::hash<uint64_t>{}(k.actor) * 0x9e3779b97f4a7c15);
    }
  };
  struct per_node {
    std::unordered_set<key, key_hash> open;
    std::deque<key> order;  // oldest first; may hold answered ones
  };

  size_t max_per_node_;
  size_t max_nodes_;
  std::map<caf::node_id, per_node> nodes_;
  std::deque<caf::node_id> node_order_;  // first sent to first
};

}  // namespace dmoe
