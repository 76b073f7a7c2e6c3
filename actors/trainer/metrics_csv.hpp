// A trainer's metrics as CSV rows (trainer.metrics-csv), read by scripts/plot-metrics.sh,
// scripts/demo.sh, chaos.sh and reproduce-*.sh by column number: add columns at the end only.
//   language model: time_s,step,epoch,tokens,loss,held_out_bpc,tokens_per_s,failed_steps,
//                   staleness,balance,test_bpc,load_peak,outer_steps,averaging_mb,averaging_s,
//                   shared_fingerprint
//   classifier:     time_s,step,epoch,samples,loss,train_accuracy,test_accuracy,samples_per_s,
//                   failed_steps,staleness,outer_steps,averaging_mb,averaging_s,
//                   shared_fingerprint
// (averaging: outer steps taken, megabytes sent and received, seconds spent in rounds, the
// shared parameters' fingerprint after the last outer step: equal in every trainer of a run
// that ended with one model.)
// A measure not taken yet is an empty cell; a language model's held-out columns are filled only
// in the rows written after an evaluation.
#pragma once

#include <fstream>
#include <string>

#include "actors/trainer/trainer_metrics.hpp"

namespace dmoe {

class metrics_csv {
public:
  /// Opens `path` (a header first, unless `resuming` appends to a run's earlier rows); false
  /// when it cannot be written.
  bool open(const std::string& path, bool language_model, bool resuming);

  /// One row of `m` (nothing when not open).
  void row(const trainer_metrics& m, bool after_evaluation);

private:
  std::ofstream out_;
  bool language_model_ = false;
};

}  // namespace dmoe
