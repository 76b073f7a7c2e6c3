// Which servers have proven the endpoints they declare (pure logic; time passed in as seconds).
// A declaration is signed by its owner's key, but the endpoint in it is whatever the owner
// wrote: without a check, any key could send every router's calls for an expert to any host and
// port (a third party's, or a server that never declared that expert). A router calls a
// declared endpoint only once the node answering there has signed a fresh nonce with the key
// that signed the declaration (its DHT node's key proof, actors/dht/ownership.hpp).
// A proof holds for `proven_for` seconds; after that it is `stale`: still used while the router
// asks again in the background, until an answer says the key is no longer there (so junk
// declarations that keep the DHT node's dials busy cannot take a known server away). A failed
// proof keeps the endpoint aside for `refused_for` seconds.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <string>
#include <utility>

namespace dmoe::moe {

class endpoint_proofs {
public:
  enum class status { unknown, proven, stale, refused };

  endpoint_proofs(double proven_for, double refused_for, size_t capacity = 65536)
    : proven_for_(proven_for), refused_for_(refused_for), capacity_(capacity) {
  }

  /// Where the proof that `owner` (a raw public key) serves at `endpoint` stands at `now`.
  status check(const std::string& endpoint, const std::string& owner, double now) const;

  /// Whether calls may go there: proven, or stale (asked again meanwhile).
  bool usable(const std::string& endpoint, const std::string& owner, double now) const {
    auto s = check(endpoint, owner, now);
    return s == status::proven || s == status::stale;
  }

  /// Whether `owner` proved a key at some endpoint and no answer has said otherwise since (a
  /// server the router has met).
  bool owner_met(const std::string& owner) const {
    return owners_.count(owner) > 0;
  }

  /// A proof ended: the node there holds the key (proven) or not (refused).
  void finished(const std::string& endpoint, const std::string& owner, bool proven, double now);

  size_t size() const {
    return entries_.size();
  }

private:
  using pair = std::pair<std::string, std::string>;
  void forget_owner(const std::string& owner);
  struct entry {
    bool proven = false;
    double until = 0;
  };

  double proven_for_;
  double refused_for_;
  size_t capacity_;
  std::map<pair, entry> entries_;
  std::deque<pair> order_;  // oldest first: forgotten first past capacity
  std::map<std::string, size_t> owners_;  // owner -> its proven endpoints
};

}  // namespace dmoe::moe
