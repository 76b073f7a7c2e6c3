// The training loop a trainer runs on its own threads (LibTorch compute and blocking calls to the
// router never run on CAF's scheduler). It trains the model of its task (task.hpp: the
// Fashion-MNIST classifier or the language model) with Adam on the local parameters (the experts
// update themselves on their servers), evaluates on held-out data every `eval_every` steps and
// at the end, and publishes metrics for the trainer actor.
//
// `workers` > 1 keeps that many batches in flight: each worker thread trains its own replica of
// the model and applies its gradients to the shared parameters as soon as its backward is done
// (shared_parameters.hpp: asynchronous SGD; a gradient staler than max_staleness updates, by
// default `workers`, is dropped), so waiting for remote experts on one batch overlaps with the
// others; with trainer.accumulate the gradients of that many batches make one update. A step is
// one applied batch; evaluations pause the updates (they run on the shared model). A failed
// evaluation batch is tried again; an evaluation that still fails is counted and training goes
// on.
//
// With trainer.checkpoint-dir it saves a checkpoint (trainer_checkpoint.hpp) every
// checkpoint_period, at the end and when stopped, and a trainer started with one there resumes
// from it: same parameters, optimizer state, step, epoch and place in the epoch's order.
//
// With averaging (trainer_setup.member), the shared parameters start from the run's common
// initialisation or the run's state, take an outer step every averaging.every steps and a last
// one when training ends (outer_averaging.hpp), so the run's trainers end with one model; the
// final evaluations are of that model.
#pragma once

#include "actors/averager/member.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/moe/router.hpp"
#include "actors/trainer/trainer_metrics.hpp"
#include "runtime/options.hpp"

namespace dmoe {


struct trainer_setup {
  std::string name = "trainer";  // logger name
  trainer_options options;
  moe_options moe;
  moe::router_actor router;      // actors/moe/router.hpp (or its supervisor)
  /// Averaging the shared parameters with the run's other trainers (outer_averaging.hpp):
  /// on when averaging.every > 0 and `member.averager` is set.
  member_setup member;
};

class training_loop {
public:
  training_loop(caf::actor_system& system, trainer_setup setup);
  ~training_loop();

  /// Trains until done, the limits are hit or `stop` is set. Never throws.
  void run(const std::atomic<bool>& stop);

  trainer_metrics metrics() const;

  struct impl;  // training_loop.cpp

private:
  std::unique_ptr<impl> impl_;
};

}  // namespace dmoe
