// A trainer's progress: what its actor reports (trainer.hpp, stats_atom) and the shell shows.
#pragma once

#include <cstddef>
#include <string>
#include <tuple>

#include <caf/typed_actor.hpp>

#include "messages/type_ids.hpp"
#include "runtime/stats_fields.hpp"

namespace dmoe {

struct trainer_metrics {
  std::string state = "starting";  // starting | training | evaluating | done | failed
  std::string error;               // why it failed
  std::string task;                // fashion-mnist | language-model
  size_t step = 0;
  size_t epoch = 0;
  size_t samples = 0;
  size_t total_steps = 0;          // 0: unknown (time-limited)
  double loss = 0;                 // moving average over recent steps
  double train_accuracy = 0;       // moving average over recent steps
  double test_accuracy = -1;       // last evaluation; -1 before the first
  double samples_per_s = 0;        // over the whole run, evaluations excluded
  size_t tokens = 0;               // language model: tokens predicted in training
  double tokens_per_s = 0;         // over the whole run, evaluations excluded
  double held_out_bpc = -1;        // language model: bits per character of the validation text
  double test_bpc = -1;            // language model: of the test text, once at the end
  double balance = -1;             // moving average of the DMoE layers' load-balancing loss
  double load_peak = -1;           // moving average: busiest expert's tokens / the mean's
  double elapsed_s = 0;
  size_t failed_steps = 0;         // steps skipped because a DMoE call failed
  size_t failed_evals = 0;         // evaluations given up (a test batch failed 3 times)
  size_t resumed_at = 0;           // the step its checkpoint resumed it at; 0: a fresh start
  size_t workers = 1;              // batches in flight at once (trainer.workers)
  double staleness = 0;            // moving average: updates between a gradient's read and its use
  size_t max_staleness = 0;        // of the applied updates
  size_t stale_dropped = 0;        // gradients staler than trainer.max-staleness, not applied
  size_t outer_steps = 0;          // averaging: outer steps its shared parameters went through
  size_t failed_rounds = 0;        // averaging rounds abandoned (parameters stayed local)
  size_t averaged_with = 0;        // members whose contributions the last average held
  double averaging_mb = 0;         // megabytes sent and received by averaging
  double averaging_s = 0;          // seconds spent in averaging rounds and downloads
  std::string shared_fingerprint;  // hash of the shared parameters after the last outer step
};

inline auto fields_of(trainer_metrics& x) {
  return std::make_tuple(
    field("state", x.state), field("error", x.error), field("task", x.task), field("step", x.step),
    field("epoch", x.epoch), field("samples", x.samples), field("total_steps", x.total_steps),
    field("loss", x.loss), field("train_accuracy", x.train_accuracy),
    field("test_accuracy", x.test_accuracy), field("samples_per_s", x.samples_per_s),
    field("tokens", x.tokens), field("tokens_per_s", x.tokens_per_s),
    field("held_out_bpc", x.held_out_bpc), field("test_bpc", x.test_bpc),
    field("balance", x.balance), field("load_peak", x.load_peak),
    field("elapsed_s", x.elapsed_s), field("failed_steps", x.failed_steps),
    field("failed_evals", x.failed_evals), field("resumed_at", x.resumed_at),
    field("workers", x.workers), field("staleness", x.staleness),
    field("max_staleness", x.max_staleness), field("stale_dropped", x.stale_dropped),
    field("outer_steps", x.outer_steps), field("failed_rounds", x.failed_rounds),
    field("averaged_with", x.averaged_with), field("averaging_mb", x.averaging_mb),
    field("averaging_s", x.averaging_s), field("shared_fingerprint", x.shared_fingerprint));
}

/// What the inspector asks a trainer (trainer_actor converts to it).
using trainer_stats_actor = caf::typed_actor<caf::replies_to<stats_atom>::with<trainer_metrics>>;

}  // namespace dmoe
