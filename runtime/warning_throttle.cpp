#include "runtime/warning_throttle.hpp"

#include <utility>

namespace dmoe {

namespace {

constexpr size_t max_reasons = 64;
constexpr auto period = std::chrono::seconds(10);

}  // namespace

bool warning_throttle::due(entry& e, clock::time_point now, size_t& count) {
  ++e.unlogged;
  if (e.last != clock::time_point{} && now - e.last < period)
    return false;
  e.last = now;
  count = std::exchange(e.unlogged, 0);
  return true;
}

bool warning_throttle::due(std::string_view kind, std::string_view reason, clock::time_point now,
                           size_t& count) {
  std::string key{kind};
  key += '|';
  for (char c : reason.substr(0, 32))
    if (c < '0' || c > '9')
      key += c;
  auto found = reasons_.find(key);
  auto& e = found != reasons_.end()         ? found->second
            : reasons_.size() < max_reasons ? reasons_[key]
                                            : overflow_;
  return due(e, now, count);
}

void warning_throttle::warn(spdlog::logger& log, std::string_view kind, std::string_view reason,
                            const std::string& what, clock::time_point now) {
  size_t count = 0;
  if (due(kind, reason, now, count))
    log.warn("{}", throttled_line(what, count));
  else
    log.debug("{}", what);
}

std::string throttled_line(const std::string& what, size_t count) {
  return what + " (" + std::to_string(count) + " such in the last 10 s)";
}

}  // namespace dmoe
