// A trainer's checkpoint: what a restarted trainer needs to go on where it stopped - its local
// parameters (the experts checkpoint themselves on their servers), Adam's state, the number of
// updates, its position in the data and its counters. One file, DIR/trainer.pt, replaced
// atomically (written beside it, then renamed): a trainer killed while saving keeps the last
// whole checkpoint.
#pragma once

#include <cstdint>
#include <string>

#include <caf/expected.hpp>

#include "actors/trainer/batch_source.hpp"
#include "actors/trainer/shared_parameters.hpp"

namespace dmoe {

/// The counters a resumed trainer continues from.
struct trainer_progress {
  uint64_t step = 0;        // batches applied to the shared parameters
  uint64_t epoch = 0;
  uint64_t samples = 0;
  uint64_t failed_steps = 0;
  uint64_t failed_evals = 0;
  double elapsed_s = 0;     // training time before the checkpoint
  double eval_s = 0;        // of it, spent evaluating
  double test_accuracy = -1;
};

std::string trainer_checkpoint_path(const std::string& dir);

/// Writes the checkpoint (the step is the batches the shared parameters have applied).
caf::error save_trainer_checkpoint(const std::string& dir, shared_parameters& shared,
                                   const batch_source::position& data,
                                   const trainer_progress& progress);

/// Goes on from DIR/trainer.pt if there is one: the shared parameters and `batches` continue
/// from it and so do the counters it returns (step 0 when there was nothing to resume).
caf::expected<trainer_progress> resume_from_checkpoint(const std::string& dir,
                                                       shared_parameters& shared,
                                                       batch_source& batches);

}  // namespace dmoe
