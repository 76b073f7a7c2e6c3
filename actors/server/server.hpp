// The expert server actor: hosts many experts, one actor each, and serves their calls.
//
// Its whole protocol:
//   From trainers (any node), Cap'n Proto (schema/expert.capnp):
//     (expert_rpc_atom, payload: ExpertRequest)      -> payload: ExpertResponse
//       forward / backward / info, charged to the sender's node.
//     (expert_rpc_atom, payload, node_id origin)     -> payload: ExpertResponse
//       the same, put together from parts by this node's gateway and charged to `origin`
//       (refused with `forbidden` when sent from another node).
//       Calls from other nodes pass fair service first (peer_admission.hpp, server.peer-*
//       options): a token bucket on each peer's requests before decoding; then its calls in
//       flight, its request bytes waiting at this expert and at the server, everyone's waiting
//       bytes and, for a backward call, its update budget at this expert. Over a limit the
//       reply is at once an `overloaded` error naming the limit. Calls from this process are
//       not limited. The server decodes the request (wire_limits, NaN policy), checks it
//       against the named expert's schema (unknown expert, dtype, shape, hidden size, batch
//       over max_batch_size, a free dimension such as tokens over max_tokens) and passes it to that expert's actor (expert_actor.hpp), which
//       merges it with other callers' calls into one batch; the answer comes back through the
//       server, which then releases the call's share. Every failure is a reply holding an
//       ErrorReply; the server keeps serving. With options.fail_rate > 0 (fault injection, off
//       by default) that share of the valid forward and backward calls, drawn at random, is
//       answered with an `unavailable` error instead.
//   From the node (local):
//     (stats_atom)                                   -> server_stats (server_stats.hpp)
//     (server_checkpoint_atom)                       -> uint32 saved
//       writes every expert's checkpoint now (0 without checkpoint_dir).
//     (server_stop_atom)                             -> uint32 saved
//       stops declaring and periodic checkpoints, writes every checkpoint, then replies; the
//       node sends the exit afterwards. Calls are still served until then.
//   Timers and compute results to itself: (decl_tick), (ckpt_tick), (ckpt_done, round, saved,
//     failed, updates, milliseconds the round took).
//   To the DHT node (setup.dht): every declare_period, (dht_declare_atom, key, label, value,
//     expiration) for each entry of declaration_entries(ids, endpoint) (messages/declaration.hpp:
//     one item per grid prefix the hosted ids share, e.g. 65 for 4,096 experts of a 64x64
//     grid), expiring declare_ttl from now; failures are logged.
//
// The largest message the server decodes is its largest valid call (a backward call of
// max_batch_size samples, free dimensions at max_tokens, plus 64 KiB of framing) when that is
// below limits.max_message_bytes.
//
// Experts are built when the server is spawned: ids from options.expert_pattern (a seeded
// sample of num_experts of them when > 0), weights from expert_seed(seed, id) with seed =
// options.seed, or stable_hash(setup.name) when 0; then each expert's checkpoint
// <checkpoint_dir>/<id>.pt is loaded when present, so a restarted server resumes exactly.
#pragma once

#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/node_id.hpp>
#include <caf/settings.hpp>
#include <caf/typed_actor.hpp>

#include "actors/dht/node.hpp"
#include "actors/server/server_stats.hpp"
#include "messages/limits.hpp"
#include "messages/type_ids.hpp"
#include "runtime/options.hpp"

namespace dmoe {

using server_checkpoint_atom = caf::atom_constant<caf::atom("srv_ckpt")>;
using server_stop_atom = caf::atom_constant<caf::atom("srv_stop")>;

/// The server's protocol (above).
using server_actor = caf::typed_actor<
  caf::replies_to<expert_rpc_atom, payload>::with<payload>,
  caf::replies_to<expert_rpc_atom, payload, caf::node_id>::with<payload>,
  caf::replies_to<stats_atom>::with<server_stats>,
  caf::replies_to<server_checkpoint_atom>::with<uint32_t>,
  caf::replies_to<server_stop_atom>::with<uint32_t>>;

struct server_setup {
  std::string name = "server";  // logger name
  server_options options;       // runtime/options.hpp
  wire_limits limits;
  dht::node_actor dht;          // DHT node actor; null = no declarations
  std::string endpoint;         // "host:port" declared as this server's address
};

/// Builds the experts (blocking: initialization and checkpoint loading happen on the calling
/// thread, so call it from main or a test, not from inside an actor) and spawns the server.
/// Errors: a bad pattern or sample size, an unknown expert type or optimizer, an unusable
/// checkpoint directory or a checkpoint that does not fit.
caf::expected<server_actor> try_spawn_server(caf::actor_system& system, server_setup setup);

/// try_spawn_server that logs the error and returns a null handle instead.
server_actor spawn_server(caf::actor_system& system, server_setup setup);

/// The checkpoint file of expert `id` under `dir`.
std::string checkpoint_path(const std::string& dir, const std::string& id);

}  // namespace dmoe
