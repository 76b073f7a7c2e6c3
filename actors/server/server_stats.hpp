// What an expert server (server.hpp) reports for (stats_atom).
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <caf/typed_actor.hpp>

#include "messages/type_ids.hpp"
#include "runtime/stats_fields.hpp"

namespace dmoe {

/// One hosted expert.
struct hosted_expert_stats {
  std::string id;
  std::string type;
  int64_t requests = 0;             // calls naming it, valid or not
  int64_t samples = 0;              // samples computed
  int64_t batches = 0;              // compute batches
  double mean_batch = 0;            // samples per batch
  double mean_callers = 0;          // calls per batch
  int64_t max_merged_callers = 0;
  int64_t queue = 0;                // calls waiting for a batch
  int64_t errors = 0;               // calls answered with an error
  int64_t updates = 0;              // optimizer steps
  int64_t pending_samples = 0;      // gradients waiting for the next update (accumulate-samples)
  int64_t clipped_updates = 0;      // with elements clipped by the outlier rule (outlier-factor)
  int64_t activations_kept = 0;     // forward calls whose activations were kept
  int64_t activations_used = 0;     // backward calls that found them
  int64_t recomputed = 0;           // backward calls that recomputed their forward
  int64_t activations_evicted = 0;  // dropped for the budget or the time to live
  int64_t activation_bytes = 0;     // held now
};

/// Calls refused per fair-service limit (peer_admission.hpp).
struct overload_stats {
  int64_t rate = 0;
  int64_t in_flight = 0;
  int64_t bytes = 0;
  int64_t updates = 0;
};

/// Periodic work: rounds run, items done (declarations stored, checkpoints saved), failures,
/// and how long the last finished round took from its start to its last item's outcome.
struct round_stats {
  int64_t rounds = 0;
  int64_t done = 0;
  int64_t failed = 0;
  double last_round_ms = 0;
};

struct server_stats {
  std::string endpoint;
  int64_t rejected = 0;           // calls no expert took: undecodable or unknown expert
  int64_t injected_failures = 0;  // calls failed on purpose (server.fail-rate)
  overload_stats overloaded;
  int64_t queued_bytes = 0;       // request bytes of other nodes' calls held now
  int64_t peers = 0;              // peers tracked
  round_stats declare;
  round_stats checkpoints;
  std::vector<hosted_expert_stats> experts;
};

inline auto fields_of(hosted_expert_stats& x) {
  return std::make_tuple(
    field("id", x.id), field("type", x.type), field("requests", x.requests),
    field("samples", x.samples), field("batches", x.batches), field("mean_batch", x.mean_batch),
    field("mean_callers", x.mean_callers), field("max_merged_callers", x.max_merged_callers),
    field("queue", x.queue), field("errors", x.errors), field("updates", x.updates),
    field("pending_samples", x.pending_samples), field("clipped_updates", x.clipped_updates),
    field("activations_kept", x.activations_kept), field("activations_used", x.activations_used),
    field("recomputed", x.recomputed), field("activations_evicted", x.activations_evicted),
    field("activation_bytes", x.activation_bytes));
}

inline auto fields_of(overload_stats& x) {
  return std::make_tuple(field("rate", x.rate), field("in_flight", x.in_flight),
                         field("bytes", x.bytes), field("updates", x.updates));
}

inline auto fields_of(round_stats& x) {
  return std::make_tuple(field("rounds", x.rounds), field("done", x.done),
                         field("failed", x.failed), field("last_round_ms", x.last_round_ms));
}

inline auto fields_of(server_stats& x) {
  return std::make_tuple(field("endpoint", x.endpoint), field("rejected", x.rejected),
                         field("injected_failures", x.injected_failures),
                         field("overloaded", x.overloaded), field("queued_bytes", x.queued_bytes),
                         field("peers", x.peers), field("declare", x.declare),
                         field("checkpoints", x.checkpoints), field("experts", x.experts));
}

/// What the inspector asks a server (server_actor converts to it).
using server_stats_actor = caf::typed_actor<caf::replies_to<stats_atom>::with<server_stats>>;

}  // namespace dmoe
