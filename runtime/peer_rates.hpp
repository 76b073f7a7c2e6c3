// Requests per second each peer may make of something costly (pure logic, time passed in): a
// token bucket per peer, keyed by who the peer is (runtime/peer_identity.hpp). Peers whose
// bucket has filled up again are forgotten, so the table holds only the peers active lately.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>

#include "runtime/token_bucket.hpp"

namespace dmoe {

class peer_rates {
public:
  /// `rate` requests per second once a burst of `burst` (at least 1) is spent; rate 0: no limit.
  explicit peer_rates(double rate = 0, double burst = 0);

  /// Takes one of `peer`'s requests at `now` (seconds): false, taking nothing, when none is left.
  bool take(const std::string& peer, double now);

  /// Peers the table holds now.
  size_t peers() const {
    return buckets_.size();
  }

private:
  void forget_full(double now);

  double rate_;
  double burst_;
  std::unordered_map<std::string, token_bucket> buckets_;
  double last_sweep_ = 0;
};

}  // namespace dmoe
