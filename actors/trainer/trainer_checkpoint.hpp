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
#include "actors/trainer/task.hpp"

namespace dmoe {

/// The counters a resumed trainer continues from.
struct trainer_progress {
  uint64_t step = 0;        // batches applied to the shared parameters
  uint64_t epoch = 0;
  uint64_t samples = 0;
  uint64_t tokens = 0;      // language model: tokens predicted
  uint64_t failed_steps = 0;
  uint64_t failed_evals = 0;
  double elapsed_s = 0;     // training time before the checkpoint
  double eval_s = 0;        // of it, spent evaluating
  double held_out = -1;     // the last held-out measure (accuracy, or bits per character)
};

std::string trainer_checkpoint_path(const std::string& dir);

/// Writes the checkpoint (the step is the batches the shared parameters have applied) with the
/// model's tags.
caf::error save_trainer_checkpoint(const std::string& dir, shared_parameters& shared,
                                   const batch_source::position& data,
                                   const trainer_progress& progress, const model_tags& tags);

/// Goes on from DIR/trainer.pt if there is one: the shared parameters and `batches` continue
/// from it and so do the counters it returns (step 0 when there was nothing to resume). A
/// checkpoint whose tags differ from `tags` (another task, shape or tokenizer) is an error that
/// names the first difference.
caf::expected<trainer_progress> resume_from_checkpoint(const std::string& dir,
                                                       shared_parameters& shared,
                                                       batch_source& batches,
                                                       const model_tags& tags);

/// The tags a checkpoint file was written with (the model's, model_tags), for tools that load
/// a model from it (dmoe-generate).
caf::expected<model_tags> read_checkpoint_tags(const std::string& path);

/// Loads only the model's parameters from the checkpoint at `path` into `model` (same shape).
caf::error load_checkpoint_parameters(const std::string& path, torch::nn::Module& model);

}  // namespace dmoe
