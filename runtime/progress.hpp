// A one-line progress bar for people watching a run: on a terminal it redraws in place
// (`[#####.....]  42% 1234/3000 loss 0.41 acc 86.1% 950 samples/s`), elsewhere (logs, CI) it
// prints a plain line at most every `plain_interval`. Writes to stderr only.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

namespace dmoe {

class progress_bar {
public:
  /// `total` 0 means unknown: the bar shows the count without a fraction.
  progress_bar(std::string label, size_t total, bool enabled,
               std::chrono::seconds plain_interval = std::chrono::seconds(10));

  /// Redraws with `done` units finished and a free-form status (e.g. "loss 0.41 acc 86.1%").
  void update(size_t done, const std::string& status);

  /// Ends the line (terminal) so later output starts on a fresh line.
  void finish();

private:
  std::string render(size_t done, const std::string& status) const;

  std::string label_;
  size_t total_;
  bool enabled_;
  bool tty_;
  std::chrono::seconds plain_interval_;
  std::chrono::steady_clock::time_point last_plain_{};
  bool drawn_ = false;
};

}  // namespace dmoe
