// The trainer actor: owns a training_loop running on its own thread and reports on it.
//
// Its whole protocol:
//   (stats_atom)          -> trainer_metrics (trainer_metrics.hpp: each field explained there)
//   (trainer_wait_atom)   -> trainer_metrics
//       the same, answered once training has ended (done or failed).
//   From its training thread: (tr_done) once training has ended.
// Exiting (e.g. on node shutdown) stops the loop and waits for its current step to end (the
// node stops the router too, whose supervisor fails that step's call at once), then for its
// last checkpoint.
#pragma once

#include <functional>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/settings.hpp>
#include <caf/typed_actor.hpp>

#include "actors/trainer/training_loop.hpp"
#include "messages/type_ids.hpp"

namespace dmoe {

using trainer_wait_atom = caf::atom_constant<caf::atom("tr_wait")>;

using trainer_actor = caf::typed_actor<caf::replies_to<stats_atom>::with<trainer_metrics>,
                                       caf::replies_to<trainer_wait_atom>::with<trainer_metrics>>;

/// Starts training at once. `on_done` (optional) runs on the actor when training has ended.
trainer_actor spawn_trainer(caf::actor_system& system, trainer_setup setup,
                         std::function<void(const trainer_metrics&)> on_done = {});

}  // namespace dmoe
