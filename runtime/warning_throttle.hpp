// Warnings about what a peer can repeat at will (dropped messages, refused connections, refused
// transfers): each kind and reason is warned about at most once per 10 s, with a count of the
// ones in between, which are logged at the debug level. A peer cannot flood the log this way.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include <spdlog/logger.h>

namespace dmoe {

class warning_throttle {
public:
  using clock = std::chrono::steady_clock;

  /// Whether a warning of `kind` and `reason` is due at `now`; `count` then gets how many came
  /// since the last one warned about (this one included). The reason's first 32 characters
  /// without digits name it (sizes and ids vary); past 64 reasons they share one throttle.
  bool due(std::string_view kind, std::string_view reason, clock::time_point now, size_t& count);

  /// `what` on `log`: at the warning level with the count when due, else at the debug level.
  void warn(spdlog::logger& log, std::string_view kind, std::string_view reason,
            const std::string& what, clock::time_point now = clock::now());

private:
  struct entry {
    clock::time_point last{};
    size_t unlogged = 0;
  };
  static bool due(entry& e, clock::time_point now, size_t& count);

  std::map<std::string, entry> reasons_;
  entry overflow_;  // once reasons_ holds max_reasons
};

/// The line a due warning is logged with.
std::string throttled_line(const std::string& what, size_t count);

}  // namespace dmoe
