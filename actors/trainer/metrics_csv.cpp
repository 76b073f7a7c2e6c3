#include "actors/trainer/metrics_csv.hpp"

#include <fmt/format.h>

namespace dmoe {

bool metrics_csv::open(const std::string& path, bool language_model, bool resuming) {
  language_model_ = language_model;
  out_.open(path, resuming ? std::ios::app : std::ios::trunc);
  if (out_ && !resuming)
    out_ << (language_model ? "time_s,step,epoch,tokens,loss,held_out_bpc,tokens_per_s,"
                              "failed_steps,staleness,balance,test_bpc,load_peak,outer_steps,"
                              "averaging_mb,averaging_s,shared_fingerprint\n"
                            : "time_s,step,epoch,samples,loss,train_accuracy,test_accuracy,"
                              "samples_per_s,failed_steps,staleness,outer_steps,averaging_mb,"
                              "averaging_s,shared_fingerprint\n");
  return static_cast<bool>(out_);
}

void metrics_csv::row(const trainer_metrics& m, bool after_evaluation) {
  if (!out_.is_open())
    return;
  auto measured = [](double x, const char* format) {
    return x < 0 ? std::string{} : fmt::format(fmt::runtime(format), x);
  };
  auto held_out = [&](double x) { return after_evaluation ? measured(x, "{:.4f}") : std::string{}; };
  if (language_model_)
    out_ << fmt::format("{:.2f},{},{},{},{:.5f},{},{:.1f},{},{:.2f},{},{},{},{},{:.3f},{:.2f},{}\n",
                        m.elapsed_s, m.step, m.epoch, m.tokens, m.loss,
                        held_out(m.held_out_bpc), m.tokens_per_s, m.failed_steps, m.staleness,
                        measured(m.balance, "{:.4f}"), held_out(m.test_bpc),
                        measured(m.load_peak, "{:.2f}"), m.outer_steps, m.averaging_mb,
                        m.averaging_s, m.shared_fingerprint);
  else
    out_ << fmt::format("{:.2f},{},{},{},{:.5f},{:.4f},{},{:.1f},{},{:.2f},{},{:.3f},{:.2f},{}\n",
                        m.elapsed_s, m.step, m.epoch, m.samples, m.loss, m.train_accuracy,
                        measured(m.test_accuracy, "{:.4f}"), m.samples_per_s, m.failed_steps,
                        m.staleness, m.outer_steps, m.averaging_mb, m.averaging_s,
                        m.shared_fingerprint);
  out_.flush();
}

}  // namespace dmoe
