// The router's private state (see router.hpp for its protocol). Split over router.cpp (lookups,
// calls, servers, stats), router_forward.cpp and router_backward.cpp (the two job kinds' I/O;
// where their rows go and when they end is pure logic: routing.hpp, quorum.hpp).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/dht/peers.hpp"
#include "actors/dht/ownership.hpp"
#include "actors/moe/dht_cache.hpp"
#include "actors/moe/endpoint_proofs.hpp"
#include "actors/moe/quorum.hpp"
#include "actors/moe/routing.hpp"
#include "actors/moe/router.hpp"
#include "actors/moe/server_book.hpp"
#include "actors/gateway/parts_caller.hpp"
#include "messages/parts.hpp"
#include "runtime/logging.hpp"

namespace dmoe::moe {

using steady = std::chrono::steady_clock;

inline double ms_since(steady::time_point t) {
  return std::chrono::duration<double, std::milli>(steady::now() - t).count();
}

/// A job waiting on a DHT lookup that fails (e.g. one started for an earlier job that hit its
/// timeout) looks the key up once more if it has at least this much time left.
constexpr auto min_lookup_retry_window = std::chrono::milliseconds(100);

/// How long a proven endpoint (the server there holds the declaring key) is trusted, and how long
/// one that failed its proof is left aside before it is asked again.
constexpr double endpoint_proven_seconds = 600;
constexpr double endpoint_refused_seconds = 30;

/// Owned items of owners the router has not met that one lookup verifies at most (a random
/// sample; the rest are skipped this time): a key kept full of fresh items costs a router this
/// many signature checks per lookup, not a thousand.
constexpr size_t max_unknown_owners_per_lookup = 64;

using moe_failed_atom = caf::atom_constant<caf::atom("moe_failed")>;

/// The router's whole protocol: router_actor plus what only it sends itself (timers, calls that
/// failed before they were sent) and the parts of replies from other nodes' gateways.
using router_impl = router_actor::extend<caf::reacts_to<moe_deadline_atom, uint64_t>,
                                         caf::reacts_to<moe_settle_atom, uint64_t>,
                                         caf::reacts_to<moe_failed_atom, uint64_t, caf::error>,
                                         caf::reacts_to<wire_part_atom, uint64_t, payload>>;
using job_promise = caf::typed_response_promise<caf::ok_atom>;

struct forward_state {
  forward_job_ptr job;
  job_promise promise;
  steady::time_point started;
  steady::time_point first_call;
  steady::time_point deadline;
  forward_route route;  // where its rows go, and its progress
  std::unordered_set<std::string> looked_up_again;  // keys whose lookup failed
  size_t lookups_pending = 0;                       // keys of the route's round not answered
  caf::error last_refusal;  // an expert's last error reply, named when the job fails
};

struct backward_state {
  backward_job_ptr job;
  job_promise promise;
  steady::time_point started;
  quorum progress;  // answers per sample against backward_k_min
};

/// One expert call in flight: its rows, and what kind of call it is.
struct call_record : routed_call {
  uint64_t job = 0;
  bool backward = false;
  bool info = false;  // asks the server its max-batch-size for these refused forward rows
  steady::time_point sent;  // set by router_state::call
};

struct expert_counters {
  int64_t calls = 0;
  int64_t failures = 0;
  double latency_ms = 0;
};

class router_state {
public:
  void init(router_impl::pointer self, router_setup setup);
  router_impl::behavior_type make_behavior();

private:
  // router.cpp
  double now() const;
  router_stats stats() const;
  /// Gives job `id`'s route the answers to `keys` (from the cache, or once looked up), then
  /// moves it on (forward_lookups_done).
  void fetch(uint64_t id, const std::vector<std::string>& keys);
  /// Starts a DHT lookup of `key` unless one is under way.
  void look_up(const std::string& key);
  void lookup_done(const std::string& key, std::vector<dht::item>* items);
  /// Keeps of `items` those of owners met (a proven endpoint, or a proof under way) and a random
  /// sample of at most max_unknown_owners_per_lookup others.
  void skip_unknown_owners(std::vector<dht::item>& items);
  /// Asks the DHT node to prove the endpoints of `declarations` not proven lately; true when
  /// the lookup of `key` waits for them (lookup_proven then ends it).
  bool prove_endpoints(const std::string& key, const std::vector<declared>& declarations);
  /// Asks the DHT node for the proof of `owner` at `endpoint` unless it is under way.
  void ask_proof(const std::string& endpoint, const std::string& owner);
  /// The proof ended: proven or not, or (nullopt) not made now.
  void endpoint_proven(const std::string& endpoint, const std::string& owner,
                       std::optional<bool> proven);
  /// Ends the lookup of `key` with the declarations whose endpoints are proven (items: null
  /// when the lookup failed).
  void lookup_proven(const std::string& key, std::vector<declared>* declarations);
  /// Records `rec` as in flight and sends its request, to be answered before `deadline`; the
  /// reply or the failure is handled later (never synchronously).
  void call(call_record rec, payload request, steady::time_point deadline);
  /// A call to another node: big requests and replies travel in parts (messages/parts.hpp).
  void call_in_parts(uint64_t call_id, const gateway_actor& peer, payload request,
                     caf::timespan timeout);
  void reply_arrived(uint64_t call_id, payload& reply);
  void call_failed(uint64_t call_id, const caf::error& reason);
  void server_down(const caf::actor_addr& source);
  /// Connects to a dead server that declared again; it is called again once that succeeds.
  void probe(const std::string& endpoint);
  void record_end(const call_record& rec, bool ok);
  /// Logs a call the server answered with an error; an `overloaded` one marks the server busy
  /// for overloaded_backoff_seconds instead of warning.
  void note_refusal(const call_record& rec, const caf::error& problem);
  caf::timespan remaining(steady::time_point deadline) const;
  /// Acts on job `id`'s next step (starts its settle timer once); true when it should finish.
  bool advance(quorum::step next, uint64_t id);
  /// Whether the current message is the router's own (its timers): once the router has made a
  /// call in parts it receives messages from the network, which must not end its jobs.
  bool from_itself() const;
  /// Ends forward or backward job `id`, if it is still running.
  void finish_job(uint64_t id);

  // router_forward.cpp
  void start_forward(forward_job_ptr job, job_promise promise);
  void forward_lookups_done(uint64_t id);
  /// Does what job `id`'s route asks: lookups, calls, probes, a batch-limit question.
  void carry_out(uint64_t id, route_actions next);
  void send_forward_call(uint64_t id, routed_call planned);
  /// The server refused `planned`'s rows as too many: ask it for its limit, then send them again.
  void ask_batch_limit(uint64_t id, routed_call planned);
  void batch_limit_reply(const call_record& rec, payload& reply);
  void forward_reply(const call_record& rec, payload& reply);
  void forward_failed(const call_record& rec);
  void forward_progress(uint64_t id);
  void finish_forward(uint64_t id);

  // router_backward.cpp
  void start_backward(backward_job_ptr job, job_promise promise);
  void backward_reply(const call_record& rec, payload& reply);
  void backward_failed(const call_record& rec);
  void backward_progress(uint64_t id);
  void finish_backward(uint64_t id);

  router_impl::pointer self_ = nullptr;
  router_setup setup_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<dht::peer_resolver> resolver_;
  std::unique_ptr<dht_cache> cache_;
  dht::verified_items verified_;  // declarations whose signature verified, not verified again
  uint64_t undecodable_ = 0;      // verified items under a grid key that are no declaration
  server_book servers_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, forward_state> forwards_;
  std::unordered_map<uint64_t, backward_state> backwards_;
  std::unordered_map<uint64_t, call_record> calls_;
  std::unique_ptr<parts_caller> parts_;  // calls to other nodes (keyed by call id)
  std::unordered_map<std::string, std::vector<uint64_t>> lookup_waiters_;  // key -> jobs
  std::unordered_set<std::string> lookups_under_way_;                  // keys being looked up
  endpoint_proofs proofs_{endpoint_proven_seconds, endpoint_refused_seconds};
  uint64_t endpoints_proven_ = 0;   // proofs asked of the DHT node that passed
  uint64_t endpoints_refused_ = 0;  // ... that failed
  // Lookups waiting for endpoint proofs: their declarations and how many proofs they wait for.
  struct unproven_lookup {
    std::vector<declared> declarations;
    size_t waiting = 0;
  };
  std::unordered_map<std::string, unproven_lookup> unproven_;
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> proof_waiters_;
  std::set<std::pair<std::string, std::string>> proofs_in_flight_;
  uint64_t owned_items_skipped_ = 0;
  std::mt19937_64 rng_{std::random_device{}()};
  std::map<std::pair<std::string, std::string>, expert_counters> counters_;  // (id, server)
};

using router_stateful = router_impl::stateful_base<router_state>;

}  // namespace dmoe::moe
