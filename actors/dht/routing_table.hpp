// Kademlia routing table: k-buckets indexed by the number of leading bits a contact shares with
// this node. The last bucket holds everything closer and splits when full; other full buckets
// keep their least-recently-seen contact while it answers pings, and park newcomers in a
// replacement cache. Pure logic: the caller passes the time in and sends the pings.
#pragma once

#include <deque>
#include <optional>
#include <vector>

#include "actors/dht/node_id.hpp"

namespace dmoe::dht {

struct contact {
  node_info info;
  double last_seen = 0;
  size_t failures = 0;
};

class routing_table {
public:
  routing_table(id160 self, size_t k);

  enum class outcome {
    inserted,   // new contact added
    updated,    // known contact refreshed and moved to the bucket's tail
    pending,    // bucket full: newcomer parked; ping `ping_candidate`, then call
                // `seen` (it answered) or `remove` (it did not)
    ignored,    // our own id
  };

  struct update_result {
    outcome result;
    std::optional<node_info> ping_candidate;
  };

  /// `who` was heard from at `now` (a request or a response).
  update_result seen(const node_info& who, double now);

  /// A request to `id` failed; drops it after `max_failures` failures in a row.
  /// Returns true when the contact was removed.
  bool failed(const id160& id, size_t max_failures);

  /// Removes `id` (dead or evicted) and promotes the freshest replacement into its bucket.
  bool remove(const id160& id);

  bool contains(const id160& id) const;
  std::optional<node_info> find(const id160& id) const;

  /// Up to `count` contacts closest to `target`, nearest first, never `exclude`.
  std::vector<node_info> closest(const id160& target, size_t count,
                                 const id160* exclude = nullptr) const;

  /// Marks the bucket covering `target` as used by a lookup at `now`.
  void touched(const id160& target, double now);

  /// Indices of buckets no lookup touched since `now - max_idle`.
  std::vector<size_t> idle_buckets(double now, double max_idle) const;

  /// A random id that falls into bucket `index`.
  id160 random_id_in_bucket(size_t index, std::mt19937_64& rng) const;

  size_t size() const;
  size_t bucket_count() const {
    return buckets_.size();
  }
  size_t bucket_size(size_t index) const {
    return buckets_.at(index).contacts.size();
  }
  const id160& self() const {
    return self_;
  }
  std::vector<contact> contacts() const;

private:
  struct bucket {
    std::deque<contact> contacts;      // least recently seen first
    std::deque<contact> replacements;  // most recently seen last
    double last_lookup = 0;
  };

  size_t index_of(const id160& id) const;
  void split_last();

  id160 self_;
  size_t k_;
  std::vector<bucket> buckets_;
};

}  // namespace dmoe::dht
