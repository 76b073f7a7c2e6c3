// The router supervisor: stands in for a router (modules, the trainer and the inspector use its
// handle exactly like a router's), keeps one router child alive and restarts it when it fails.
//
// Its whole protocol:
//   Relayed to the current router child (router.hpp), answered with the child's reply:
//     (moe_forward_atom, forward_job_ptr)   -> ok_atom | error
//     (moe_backward_atom, backward_job_ptr) -> ok_atom | error
//       Requested (not delegated) so the supervisor holds the caller's promise: CAF 0.17 has
//       no broken-promise error, so a call delegated to a router that then crashes would only
//       fail at the caller's own timeout. When the child dies, every call it held fails at
//       once with errc::unavailable ("router crashed: <reason>").
//     (stats_atom)                          -> router_stats
//       the child's stats plus restarts (routers spawned after the first) and router_id (the
//       current child's actor id); router_error when the child did not answer.
//   Test and tooling accessor (local):
//     (moe_child_atom)                      -> router_actor   the current router child
//   From the child: down_msg. Normal and user_shutdown exits end the supervisor with the same
//   reason; any other reason is logged and a fresh router is spawned from the same setup, at
//   most policy.max_restarts times within policy.window; one more failure ends the supervisor
//   with the child's reason so the failure is visible to everyone holding its handle.
//   Told to exit (an exit_msg other than kill), it first fails every call it holds with
//   errc::unavailable ("router stopped: <reason>"). When the supervisor exits for any reason,
//   its child is sent an exit too.
#pragma once

#include <chrono>
#include <cstddef>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>

#include "actors/moe/router.hpp"

namespace dmoe::moe {

using moe_child_atom = caf::atom_constant<caf::atom("moe_child")>;

/// The router's protocol plus the test accessor; converts to router_actor.
using supervisor_actor =
  router_actor::extend<caf::replies_to<moe_child_atom>::with<router_actor>>;

/// How many restarts within what window a supervisor tolerates before it gives up.
struct restart_policy {
  size_t max_restarts = 5;
  caf::timespan window = std::chrono::minutes(1);
};

/// Extra time the supervisor waits for its child beyond a job's own timeout; shorter than the
/// module's router_reply_margin, so the module sees the supervisor's error, not its own timeout.
constexpr caf::timespan supervisor_reply_margin = std::chrono::seconds(3);
/// How long a stats request to the child may take.
constexpr caf::timespan supervisor_stats_timeout = std::chrono::seconds(2);

supervisor_actor spawn_supervised_router(caf::actor_system& system, router_setup setup,
                                   restart_policy policy = {});

}  // namespace dmoe::moe
