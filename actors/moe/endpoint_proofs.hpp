// Which servers have proven the endpoints they declare (pure logic; time passed in as seconds).
// A declaration is signed by its owner's key, but the endpoint in it is whatever the owner
// wrote: without a check, any key could send every router's calls for an expert to any host and
// port (a third party's, or a server that never declared that expert). A router calls a
// declared endpoint only once the node answering there has signed a fresh nonce with the key
// that signed the declaration (its DHT node's key proof, actors/dht/ownership.hpp); the answer
// is remembered for `proven_for` seconds, a failed proof for `refused_for`, so a lookup costs a
// proof only for a server it has not met lately.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <string>
#include <utility>

namespace dmoe::moe {

class endpoint_proofs {
public:
  enum class status { unknown, pending, proven, refused };

  endpoint_proofs(double proven_for, double refused_for, size_t capacity = 65536)
    : proven_for_(proven_for), refused_for_(refused_for), capacity_(capacity) {
  }

  /// Where the proof that `owner` (a raw public key) serves at `endpoint` stands at `now`.
  status check(const std::string& endpoint, const std::string& owner, double now) const;

  /// A proof was asked for: pending until finished.
  void started(const std::string& endpoint, const std::string& owner);

  /// The proof ended: the node there holds the key (proven) or not, or did not answer.
  void finished(const std::string& endpoint, const std::string& owner, bool proven, double now);

  size_t size() const {
    return entries_.size();
  }

private:
  using pair = std::pair<std::string, std::string>;
  struct entry {
    status state = status::unknown;
    double until = 0;
  };
  void remember(const pair& p);

  double proven_for_;
  double refused_for_;
  size_t capacity_;
  std::map<pair, entry> entries_;
  std::deque<pair> order_;  // oldest first: forgotten first past capacity
};

}  // namespace dmoe::moe
