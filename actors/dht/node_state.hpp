// The DHT node's state and the operations its handlers share (private to actors/dht).
#pragma once

#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/logger.h>

#include "actors/dht/claim_checks.hpp"
#include "actors/dht/lookup.hpp"
#include "actors/dht/node.hpp"
#include "actors/dht/ownership.hpp"
#include "actors/dht/routing_table.hpp"
#include "actors/dht/storage.hpp"
#include "messages/dht_codec.hpp"
#include "runtime/peer_rates.hpp"
#include "runtime/warning_throttle.hpp"

namespace dmoe::dht {

using refresh_tick = caf::atom_constant<caf::atom("dht_rtick")>;
using replicate_tick = caf::atom_constant<caf::atom("dht_ptick")>;
using bootstrap_tick = caf::atom_constant<caf::atom("dht_btick")>;

/// The node's whole protocol: node_actor plus its timers.
using node_impl = node_actor::extend<caf::reacts_to<refresh_tick>, caf::reacts_to<replicate_tick>,
                                     caf::reacts_to<bootstrap_tick>>;
struct node_state;
using node_stateful = node_impl::stateful_base<node_state>;

/// A lookup under way: the pure lookup plus what the node collects while it runs.
struct lookup_run {
  lookup search;
  bool want_values = false;
  std::map<std::string, item> items;
  bool finished = false;
  std::function<void(lookup_run&)> on_done;
};

struct node_state {
  static inline const char* name = "dmoe.dht.node";

  void init(node_stateful* self_ptr, node_setup setup);

  double now() const {
    return clock();
  }

  // -- requests to peers ------------------------------------------------------------------------

  using response_handler = std::function<void(response&)>;
  using failure_handler = std::function<void(const caf::error&)>;

  /// Sends `body` to `peer`; feeds the routing table with the outcome.
  void call(const node_info& peer, decltype(request::body) body, response_handler ok,
            failure_handler fail);

  void ping_then_evict(const node_info& candidate);
  /// `who` (whose id holds_its_id: the callers check) was heard from; feeds the routing table.
  void saw(const node_info& who);
  /// A request's sender: a contact the table holds at that endpoint is refreshed, a known id at
  /// another endpoint ignored, and a new one learned only after a ping to the claimed endpoint
  /// is answered with the claimed id.
  void heard_from(const node_info& sender);

  // -- lookups ----------------------------------------------------------------------------------

  void find(const id160& target, bool want_values, std::function<void(lookup_run&)> on_done);
  void pump(const std::shared_ptr<lookup_run>& run);

  /// Whether a peer (`from`: caller_identity, "" for this process) may have this node run a
  /// lookup or store for it now (dht.peer-access-rate); the error says why not.
  caf::error take_access(const std::string& from);

  /// Stores `x` under `key` on the k closest nodes for `from` (runtime/peer_identity.hpp; "":
  /// this process); the promise gets (replicas, rounds, requests), or an error when no node
  /// took it.
  caf::typed_response_promise<uint32_t, uint32_t, uint32_t>
  store_everywhere(const std::string& key, item x, node_stateful* actor, const std::string& from);

  /// Stores `items` under `key` on the k closest nodes (itself included when it is one of them,
  /// its copy counted against `from`).
  void replicate_key(const id160& key, std::vector<item> items,
                     std::function<void(uint32_t stored, size_t rounds, size_t requests)> done,
                     const std::string& from = {});

  // -- serving peers ----------------------------------------------------------------------------

  /// A peer's request; `from` is who the peer is ("" for this process: runtime/peer_identity.hpp).
  payload serve(payload& in, const std::string& from);
  response answer(const request& req, const std::string& from);

  // -- periodic work ----------------------------------------------------------------------------

  void bootstrap();
  /// After contacts were removed: a node left with none (its link was cut, say, and every peer
  /// went down) joins again through its bootstrap peers, with the same backoff as at start.
  void rejoin_if_alone();
  void refresh_buckets();
  /// Republishes every stored key (unless `force` is false: then only keys no peer refreshed
  /// lately); `done` gets the number of keys republished.
  void replicate_all(bool force, std::function<void(uint32_t)> done);
  void report_joined();
  std::string summary() const;

  node_stateful* self = nullptr;
  std::shared_ptr<spdlog::logger> log;
  dht_options options;
  codec_limits codec;
  std::function<double()> clock;
  std::mt19937_64 rng;
  node_info me;
  std::optional<routing_table> table;
  std::optional<storage> store;
  std::shared_ptr<const identity> signer;  // signs this node's owned items (dht_declare)
  std::optional<peer_resolver> peers;
  std::shared_ptr<local_directory> directory;
  std::set<id160> pinging;                                          // eviction pings under way
  claim_checks claims;                                              // claimed endpoints dialed back
  claim_checks proofs;  // declared endpoints dialed for a router's proof (the same bounds)
  peer_rates access;    // lookups and stores peers have this node run for them (dht.peer-access-*)
  std::unordered_map<id160, double, id_hash> replicated_at;         // last replication per key
  size_t bootstrap_attempts = 0;
  bool bootstrap_scheduled = false;  // a bootstrap_tick is on its way
  bool started = false;
  std::function<void(uint32_t contacts)> joined;  // answers dht_start once bootstrap ends
  node_stats stats;  // the counters; stats_of() fills in the rest when asked
  warning_throttle warnings;  // about what peers repeat at will
};

}  // namespace dmoe::dht
