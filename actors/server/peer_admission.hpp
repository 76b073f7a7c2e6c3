// Fair service at an expert server (pure logic; time passed in): what each peer may have the
// server hold or do for it at once, so that one flooding or poisoning peer costs the others
// nothing but its own share. A call is admitted or refused at once, never queued without bound:
//   - a token bucket on requests per peer (rate, burst), taken before the call is decoded;
//   - calls in flight per peer (queued or computing);
//   - request bytes waiting per peer at one expert, per peer at all experts, and everyone's;
//   - an update budget per peer and expert: a token bucket on backward samples, so that one
//     peer cannot move an expert's weights faster than `update_rate` samples per second.
// Every refusal says which limit (and its option) in an errc::overloaded error, or
// errc::expert_overloaded for the limits of one expert (bytes waiting at it, its update budget),
// so routers keep calling the server's other experts. A limit of 0 is
// off. Peers with nothing in flight and full buckets are forgotten, so the table stays as large
// as the set of peers active in the last few seconds.
// A peer is who it cannot choose to be (its address or certificate: runtime/peer_identity.hpp),
// and several processes may share one address (trainers on one machine, a NAT): a peer's limits
// are its share times the distinct nodes seen from it lately, at most `max_nodes_per_peer`, so
// node ids made up at one address buy at most that many shares.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/error.hpp>

#include "messages/errors.hpp"
#include "runtime/token_bucket.hpp"

namespace dmoe {

struct admission_limits {
  double request_rate = 0;          // requests per second per peer (server.peer-request-rate)
  double request_burst = 0;         // the bucket's size (server.peer-request-burst)
  uint64_t max_in_flight = 0;       // calls per peer (server.peer-max-in-flight)
  uint64_t max_expert_bytes = 0;    // bytes per peer and expert (server.peer-max-expert-mb)
  uint64_t max_peer_bytes = 0;      // bytes per peer (server.peer-max-queued-mb)
  uint64_t max_total_bytes = 0;     // bytes of all peers (server.max-queued-mb)
  double update_rate = 0;           // backward samples per second per peer and expert
  double update_burst = 0;          // (server.peer-update-rate, server.peer-update-burst)
  uint64_t max_nodes_per_peer = 1;  // shares one peer may hold (server.peer-nodes)
};

/// What one admitted call holds until release().
struct admission_ticket {
  std::string peer;
  std::string expert;
  uint64_t bytes = 0;
};

struct admission_counters {
  uint64_t admitted = 0;
  uint64_t over_rate = 0;
  uint64_t over_in_flight = 0;
  uint64_t over_bytes = 0;    // any of the three byte limits
  uint64_t over_updates = 0;  // the update budget
};

class peer_admission {
public:
  explicit peer_admission(admission_limits limits = {}) : limits_(limits) {
  }

  /// Before decoding a request of `bytes` from `peer` (sent by its node `node`): takes one of
  /// its request tokens and checks the limits that need no decoding (calls in flight, its bytes,
  /// everyone's), so a flood is refused at the cost of a lookup. Charges nothing but the token.
  caf::error take_request(const std::string& peer, uint64_t bytes, double now,
                          const std::string& node = {});

  /// Admits a decoded call of `bytes` for `expert` (`backward_samples` > 0 for a backward
  /// call, charged to the update budget) and charges it, or says which limit it would break.
  caf::error admit(const admission_ticket& call, uint64_t backward_samples, double now);

  /// The admitted call ended (answered or failed).
  void release(const admission_ticket& call);

  const admission_counters& counters() const {
    return counters_;
  }
  uint64_t queued_bytes() const {
    return total_bytes_;
  }
  /// Peers the table holds now.
  size_t peers() const {
    return peers_.size();
  }
  const admission_limits& limits() const {
    return limits_;
  }

private:
  struct peer_state {
    token_bucket requests;
    uint64_t in_flight = 0;
    uint64_t bytes = 0;
    std::unordered_map<std::string, uint64_t> expert_bytes;
    std::unordered_map<std::string, token_bucket> updates;
    std::vector<std::string> nodes;  // distinct, at most max_nodes_per_peer
    /// The shares it holds: one per node seen, at least one.
    double shares() const {
      return nodes.empty() ? 1.0 : static_cast<double>(nodes.size());
    }
  };

  peer_state& state_of(const std::string& peer, double now);
  caf::error peer_refusal(const peer_state& p, uint64_t bytes);
  caf::error bytes_refusal(const char* what, uint64_t limit, const char* option,
                           errc code = errc::overloaded);
  void forget_idle(double now);

  admission_limits limits_;
  admission_counters counters_;
  std::unordered_map<std::string, peer_state> peers_;
  uint64_t total_bytes_ = 0;
  double last_sweep_ = 0;
};

}  // namespace dmoe
