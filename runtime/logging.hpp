// spdlog loggers, one per actor, all writing to the node's shared sinks. Every line carries the
// logger's name ("node/actor"), e.g. "[dht-1/dht] stored 3 items".
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace dmoe::log {

/// The levels node.log-level takes, least severe first.
inline constexpr std::array<std::string_view, 7> level_names{
  "trace", "debug", "info", "warn", "error", "critical", "off"};

std::optional<spdlog::level::level_enum> parse_level(std::string_view text);

/// How a log file rotates: at `max_bytes` node.log becomes node.1.log (node.1.log becomes
/// node.2.log, ...), and at most `files` rotated files are kept.
struct file_rotation {
  size_t max_bytes = size_t{64} << 20;
  size_t files = 4;
};

/// Sets the sinks (stderr, plus `file` when not empty, rotating) and the level for all loggers.
/// Safe to call again; later loggers use the new settings. Every line's message has its control
/// characters written as \xNN (a peer's text cannot forge lines or drive a terminal) and is cut
/// at max_line_bytes.
void setup(std::string_view level, const std::string& file = {}, file_rotation rotation = {});

/// The longest message a log line carries.
inline constexpr size_t max_line_bytes = 4096;

/// `text` from a peer, fit for a log line: bytes outside printable ASCII as \xNN, cut to `limit`
/// bytes of it (then "... (N bytes)").
std::string escaped(std::string_view text, size_t limit = 256);

/// A logger named `name`, created on first use with the shared sinks and level.
std::shared_ptr<spdlog::logger> get(const std::string& name);

}  // namespace dmoe::log
