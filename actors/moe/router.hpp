// The MoE router: one actor per trainer process, between the DMoE layers and the expert servers.
// It owns the DHT lookup cache, runs the beam search, calls experts, monitors their servers and
// reroutes around failures. Nodes run it under a supervisor (supervisor.hpp:
// spawn_supervised_router), whose handle speaks this same protocol.
//
// Its whole protocol:
//   From the DMoE module (local only; jobs are shared_ptrs, see jobs.hpp):
//     (moe_forward_atom, forward_job_ptr)   -> ok_atom | error
//       Beam search for the k_best live experts of every sample (coordinate by coordinate over
//       the DHT's prefix declarations; a lookup is fresh for directory_cache, after which its
//       unexpired items are used while the key is looked up again in the background, and no
//       item is used past its expiration), then one ForwardRequest per chosen expert with the rows
//       routed to it, to the replica with the lowest latency x calls in flight. A failed call or
//       a server going down moves each affected sample slot to that sample's next-best spare
//       expert at once; a server that went down is avoided until it declares again and a
//       connect to it succeeds (server_book.hpp). A server refusing a call as `overloaded`
//       (its per-peer limits) is passed over for overloaded_backoff_seconds: that call's
//       samples move to their spares, later calls go to other replicas. Rows for one expert
//       beyond its server's max-batch-size are split into several calls: a call refused with limit_exceeded makes
//       the router ask that server for the expert's info (ExpertInfo.maxBatchSize), remember
//       the limit and send the rows again in parts that fit. Once every sample has k_min
//       answers the job waits timeout_after_k_min for stragglers; it ends at forward_timeout
//       at the latest. Samples with fewer than k_min answers fail the job with
//       errc::unavailable (or get zeros, allow_zero_outputs). A job may name its grid
//       (forward_job::expert_prefix); else it routes to moe.expert-prefix. Jobs needing the
//       same key share one lookup (under its own forward_timeout); a job it fails for looks
//       the key up once more while the job has time left.
//     (moe_backward_atom, backward_job_ptr) -> ok_atom | error
//       One BackwardRequest (the forward's inputs and the grad rows) to each replica that
//       answered the forward; waits for backward_k_min answers per sample (then
//       timeout_after_k_min for the rest) up to backward_timeout. Missing answers add zero.
//   From anyone:
//     (stats_atom)                          -> router_stats (router_stats.hpp)
//   To expert servers: in this process (expert_rpc_atom, payload) -> payload; on other nodes
//     in parts (actors/gateway/gateway.hpp, messages/parts.hpp): (wire_part_atom, call id,
//     part)..., then (expert_rpc_atom, call id, total bytes, last part) -> (total bytes, last
//     part) after the reply's (wire_part_atom, call id, part) messages, which the router takes
//     only from the gateway the call went to, for calls in flight.
//   To the DHT node: (dht_get_atom, key) -> (payload, uint32, uint32); (dht_prove_atom,
//     endpoint, owner key) -> bool before calling a declared endpoint it has not met lately
//     (endpoint_proofs.hpp): only declarations whose endpoint proved the declaring key route.
//   Internal (router_state.hpp: router_impl): (moe_deadline_atom, job id), (moe_settle_atom, job
//     id) timers (taken from the router itself only), (moe_failed_atom, call id, error) for
//     calls that failed before they were sent, reply parts from gateways; down_msg of servers.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/settings.hpp>
#include <caf/typed_actor.hpp>

#include "actors/dht/node.hpp"
#include "actors/dht/peers.hpp"
#include "actors/moe/jobs.hpp"
#include "actors/moe/router_stats.hpp"
#include "messages/type_ids.hpp"
#include "runtime/options.hpp"

namespace dmoe::moe {

using moe_forward_atom = caf::atom_constant<caf::atom("moe_fwd")>;
using moe_backward_atom = caf::atom_constant<caf::atom("moe_bwd")>;
using moe_deadline_atom = caf::atom_constant<caf::atom("moe_dead")>;
using moe_settle_atom = caf::atom_constant<caf::atom("moe_settle")>;

/// The router's protocol for the DMoE modules and the inspector. The supervisor's handle
/// (supervisor.hpp) converts to it.
using router_actor = caf::typed_actor<
  caf::replies_to<moe_forward_atom, forward_job_ptr>::with<caf::ok_atom>,
  caf::replies_to<moe_backward_atom, backward_job_ptr>::with<caf::ok_atom>,
  caf::replies_to<stats_atom>::with<router_stats>>;

/// Spare experts ranked per sample beyond k_best, for rerouting (at least this many).
constexpr size_t min_spares_per_sample = 4;
/// A server that refused a call as overloaded is not picked for this long (seconds).
constexpr double overloaded_backoff_seconds = 0.25;
/// Connecting to a server endpoint over TCP gives up after this long.
constexpr caf::timespan server_connect_timeout = std::chrono::seconds(2);

struct router_setup {
  std::string name = "moe";                            // logger name
  moe_options options;
  wire_limits limits;
  dht::router_dht_actor dht;                           // a DHT node of this process
  std::shared_ptr<dht::local_directory> directory;     // in-process servers; may be null
  std::function<double()> clock;                       // seconds since the epoch; DHT's if empty
};

router_actor spawn_router(caf::actor_system& system, router_setup setup);

}  // namespace dmoe::moe
