#include "runtime/logging.hpp"

#include <mutex>
#include <vector>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace dmoe::log {

namespace {

constexpr const char* line_pattern = "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v";

struct registry {
  std::mutex mtx;
  std::vector<spdlog::sink_ptr> sinks;
  spdlog::level::level_enum level = spdlog::level::info;
};

registry& state() {
  static registry instance;
  return instance;
}

void ensure_sinks(registry& r) {
  if (r.sinks.empty()) {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    sink->set_pattern(line_pattern);
    r.sinks.push_back(std::move(sink));
  }
}

}  // namespace

std::optional<spdlog::level::level_enum> parse_level(std::string_view text) {
  // spdlog's levels run in the same order, trace (0) to off (6).
  for (size_t i = 0; i < level_names.size(); ++i)
    if (level_names[i] == text)
      return static_cast<spdlog::level::level_enum>(i);
  return std::nullopt;
}

void setup(std::string_view level, const std::string& file) {
  auto& r = state();
  std::lock_guard<std::mutex> guard{r.mtx};
  r.level = parse_level(level).value_or(spdlog::level::info);
  r.sinks.clear();
  ensure_sinks(r);
  if (!file.empty()) {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file);
    sink->set_pattern(line_pattern);
    r.sinks.push_back(std::move(sink));
  }
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& logger) {
    logger->sinks() = r.sinks;
    logger->set_level(r.level);
  });
}

std::shared_ptr<spdlog::logger> get(const std::string& name) {
  auto& r = state();
  std::lock_guard<std::mutex> guard{r.mtx};
  if (auto existing = spdlog::get(name))
    return existing;
  ensure_sinks(r);
  auto logger = std::make_shared<spdlog::logger>(name, r.sinks.begin(), r.sinks.end());
  logger->set_level(r.level);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace dmoe::log
