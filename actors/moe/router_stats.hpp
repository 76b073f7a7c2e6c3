// What a router (router.hpp) and its supervisor (supervisor.hpp) report for (stats_atom).
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <caf/typed_actor.hpp>

#include "messages/type_ids.hpp"
#include "runtime/stats_fields.hpp"

namespace dmoe::moe {

using dmoe::inspect;

/// One expert at one server, as this router has called it.
struct routed_expert_stats {
  std::string id;
  std::string server;
  int64_t calls = 0;
  int64_t failures = 0;
  double latency_ms = 0;  // moving average of answered calls
};

/// A call sent and not yet answered or failed.
struct call_in_flight_stats {
  std::string id;
  std::string server;
  bool backward = false;
};

struct router_stats {
  std::vector<routed_expert_stats> experts;
  std::vector<std::string> dead_servers;  // avoided until they declare again and answer
  std::vector<call_in_flight_stats> calls_in_flight;
  int64_t jobs_in_flight = 0;
  int64_t cache_entries = 0;  // DHT keys cached
  int64_t signature_checks = 0;       // declarations whose signature was verified
  int64_t signatures_remembered = 0;  // declarations seen before: not verified again
  int64_t endpoints_proven = 0;       // declared endpoints whose node proved the declaring key
  int64_t endpoints_refused = 0;      // ... that did not (their declarations were not used)
  int64_t undecodable_items = 0;      // signed items under a grid key that were no declaration
  int64_t owned_items_skipped = 0;    // of owners not met, past the sample a lookup verifies
  // Filled by the supervisor: routers it spawned after the first, its current child's actor id,
  // and why that child did not answer (empty when it did).
  int64_t restarts = 0;
  int64_t router_id = 0;
  std::string router_error;
};

inline auto fields_of(routed_expert_stats& x) {
  return std::make_tuple(field("id", x.id), field("server", x.server), field("calls", x.calls),
                         field("failures", x.failures), field("latency_ms", x.latency_ms));
}

inline auto fields_of(call_in_flight_stats& x) {
  return std::make_tuple(field("id", x.id), field("server", x.server),
                         field("backward", x.backward));
}

inline auto fields_of(router_stats& x) {
  return std::make_tuple(field("experts", x.experts), field("dead_servers", x.dead_servers),
                         field("calls_in_flight", x.calls_in_flight),
                         field("jobs_in_flight", x.jobs_in_flight),
                         field("cache_entries", x.cache_entries),
                         field("signature_checks", x.signature_checks),
                         field("signatures_remembered", x.signatures_remembered),
                         field("endpoints_proven", x.endpoints_proven),
                         field("endpoints_refused", x.endpoints_refused),
                         field("undecodable_items", x.undecodable_items),
                         field("owned_items_skipped", x.owned_items_skipped),
                         field("restarts", x.restarts),
                         field("router_id", x.router_id), field("router_error", x.router_error));
}

/// What the inspector asks a router (router_actor converts to it).
using router_stats_actor = caf::typed_actor<caf::replies_to<stats_atom>::with<router_stats>>;

}  // namespace dmoe::moe
