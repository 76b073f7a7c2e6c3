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

/// Sets the sinks (stderr, plus `file` when not empty) and the level for all loggers.
/// Safe to call again; later loggers use the new settings.
void setup(std::string_view level, const std::string& file = {});

/// A logger named `name`, created on first use with the shared sinks and level.
std::shared_ptr<spdlog::logger> get(const std::string& name);

}  // namespace dmoe::log
