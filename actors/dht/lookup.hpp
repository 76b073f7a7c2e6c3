// One iterative Kademlia lookup: keeps a shortlist ordered by distance to the target, hands out
// up to `alpha` contacts to query at a time, and ends when the k closest contacts it knows have
// all answered or failed. Pure logic; the node actor sends the requests and feeds back answers.
#pragma once

#include <map>
#include <vector>

#include "actors/dht/node_id.hpp"

namespace dmoe::dht {

class lookup {
public:
  lookup(const id160& target, const id160& self, size_t k, size_t alpha,
         const std::vector<node_info>& seeds);

  /// Contacts to query now; they count as in flight until answered or failed.
  std::vector<node_info> next();

  /// `from` answered and named `closer` contacts.
  void answered(const id160& from, const std::vector<node_info>& closer);

  /// A request to `from` failed or timed out.
  void failed(const id160& from);

  bool done() const;

  /// The k closest contacts that answered, nearest first.
  std::vector<node_info> closest_answered() const;

  const id160& target() const {
    return target_;
  }
  /// Sequential request rounds: the longest chain of referrals queried.
  size_t rounds() const {
    return rounds_;
  }
  size_t requests() const {
    return requests_;
  }
  size_t failures() const {
    return failures_;
  }

private:
  enum class state { fresh, in_flight, answered, failed };
  struct candidate {
    node_info info;
    size_t depth;
    state st;
  };

  void add(const node_info& info, size_t depth);
  candidate* find(const id160& id);

  id160 target_;
  id160 self_;
  size_t k_;
  size_t alpha_;
  std::map<id160, candidate> shortlist_;  // keyed by distance to the target
  size_t in_flight_ = 0;
  size_t rounds_ = 0;
  size_t requests_ = 0;
  size_t failures_ = 0;
};

}  // namespace dmoe::dht
