// The trainer actor: owns a training_loop running on its own thread and reports on it.
//
// Its whole protocol:
//   (stats_atom)          -> caf::settings
//       state, error, step, epoch, samples, total_steps, loss, accuracy (train, moving average),
//       test_accuracy (-1 before the first evaluation), samples_per_s, elapsed_s, failed_calls
//       (steps skipped because a DMoE call failed), failed_evals (evaluations given up),
//       resumed_at (the step a checkpoint resumed it at, 0 for a fresh start), workers,
//       staleness (moving average of the updates applied between a gradient's read of the
//       parameters and its own update), max_staleness (of applied updates), stale_dropped
//       (gradients over trainer.max-staleness).
//   (trainer_wait_atom)   -> caf::settings
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

using trainer_actor = caf::typed_actor<caf::replies_to<stats_atom>::with<caf::settings>,
                                       caf::replies_to<trainer_wait_atom>::with<caf::settings>>;

caf::settings to_settings(const trainer_metrics& m);

/// Starts training at once. `on_done` (optional) runs on the actor when training has ended.
trainer_actor spawn_trainer(caf::actor_system& system, trainer_setup setup,
                         std::function<void(const trainer_metrics&)> on_done = {});

}  // namespace dmoe
