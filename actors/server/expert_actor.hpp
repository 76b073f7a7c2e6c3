// One hosted expert as an actor: its batching task pools (one queue per kind of call) and the
// hand-off of merged batches to the compute threads.
//
// Its whole protocol (local only; the server actor checks calls before delegating them here):
//   (expert_rpc_atom, forward_call, uint64 lane)     -> payload: ExpertResponse (forward)
//   (expert_rpc_atom, backward_call, uint64 lane)    -> payload: ExpertResponse (backward)
//     queued in the lane of its caller (the server names one per peer); batches take calls in
//     fair order across lanes (batch_queue.hpp); a batch starts when it holds max_batch_size samples (no further call fits), its
//     oldest call has waited max_batch_wait, or (adaptive_wait) no further call is likely to
//     come soon (runtime/experts/batch_queue.hpp), and only while no batch of this expert is
//     computing (calls arriving meanwhile form the next batch). Between the two queues the one
//     whose oldest call waits longest goes first. Compute failures become error replies to
//     every caller of that batch.
//   To itself: (batch_tick) when a wait runs out; from the compute thread
//     (batch_reply, uint64 ticket, payload) once per caller, then (batch_done).
#pragma once

#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/local_actor.hpp>
#include <caf/typed_actor.hpp>

#include "actors/server/expert_counters.hpp"
#include "runtime/expert_codec.hpp"
#include "runtime/experts/compute_pool.hpp"
#include "runtime/experts/expert_backend.hpp"
#include "messages/type_ids.hpp"

// Calls travel between the server and expert actors of one process only, already decoded.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dmoe::forward_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dmoe::backward_call)

namespace dmoe {

struct expert_actor_setup {
  std::string log_name;
  std::shared_ptr<expert_backend> backend;
  std::shared_ptr<compute_pool> pool;
  std::shared_ptr<expert_counters> counters;
  size_t max_batch_size = 1024;
  caf::timespan max_batch_wait = std::chrono::milliseconds(2);
  bool adaptive_wait = true;  // wait only while more calls are likely to come (batch_queue.hpp)
  wire::Compression compression = wire::Compression::NONE;  // of the replies' float32 tensors
};

/// The expert actor's protocol (above), for its server.
using expert_actor = caf::typed_actor<
  caf::replies_to<expert_rpc_atom, forward_call, uint64_t>::with<payload>,
  caf::replies_to<expert_rpc_atom, backward_call, uint64_t>::with<payload>>;

/// Spawns the actor linked to `parent` (its server).
expert_actor spawn_expert_actor(caf::local_actor* parent, expert_actor_setup setup);

}  // namespace dmoe
