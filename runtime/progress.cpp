#include "runtime/progress.hpp"

#include <unistd.h>

#include <fmt/format.h>

namespace dmoe {

namespace {

constexpr size_t bar_width = 24;

}  // namespace

progress_bar::progress_bar(std::string label, size_t total, bool enabled,
                           std::chrono::seconds plain_interval)
  : label_(std::move(label)),
    total_(total),
    enabled_(enabled),
    tty_(isatty(STDERR_FILENO) != 0),
    plain_interval_(plain_interval) {
}

std::string progress_bar::render(size_t done, const std::string& status) const {
  if (total_ == 0)
    return fmt::format("{} {} {}", label_, done, status);
  auto fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(total_));
  auto filled = static_cast<size_t>(fraction * bar_width);
  return fmt::format("{} [{}{}] {:3.0f}% {}/{} {}", label_, std::string(filled, '#'),
                     std::string(bar_width - filled, '.'), fraction * 100, done, total_, status);
}

void progress_bar::update(size_t done, const std::string& status) {
  if (!enabled_)
    return;
  auto line = render(done, status);
  if (tty_) {
    fmt::print(stderr, "\r\033[K{}", line);
    std::fflush(stderr);
    drawn_ = true;
    return;
  }
  auto now = std::chrono::steady_clock::now();
  if (now - last_plain_ < plain_interval_)
    return;
  last_plain_ = now;
  fmt::print(stderr, "{}\n", line);
}

void progress_bar::finish() {
  if (enabled_ && tty_ && drawn_)
    fmt::print(stderr, "\n");
  drawn_ = false;
}

}  // namespace dmoe
