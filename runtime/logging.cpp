#include "runtime/logging.hpp"

#include <algorithm>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace dmoe::log {

namespace {

constexpr const char* line_pattern = "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %*";

bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

/// The %* flag: the message with control characters as \xNN, cut at max_line_bytes.
class escaped_message final : public spdlog::custom_flag_formatter {
public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string_view text{msg.payload.data(), msg.payload.size()};
    auto shown = text.substr(0, max_line_bytes);
    for (unsigned char c : shown) {
      if (is_control(c))
        fmt::format_to(std::back_inserter(dest), "\\x{:02x}", c);
      else
        dest.push_back(static_cast<char>(c));
    }
    if (shown.size() < text.size())
      fmt::format_to(std::back_inserter(dest), "... ({} bytes)", text.size());
  }

  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<escaped_message>();
  }
};

void use_line_format(spdlog::sinks::sink& sink) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<escaped_message>('*').set_pattern(line_pattern);
  sink.set_formatter(std::move(formatter));
}

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
    use_line_format(*sink);
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

void setup(std::string_view level, const std::string& file, file_rotation rotation) {
  auto& r = state();
  std::lock_guard<std::mutex> guard{r.mtx};
  r.level = parse_level(level).value_or(spdlog::level::info);
  r.sinks.clear();
  ensure_sinks(r);
  if (!file.empty()) {
    auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
      file, std::max<size_t>(rotation.max_bytes, 1), std::max<size_t>(rotation.files, 1));
    use_line_format(*sink);
    r.sinks.push_back(std::move(sink));
  }
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& logger) {
    logger->sinks() = r.sinks;
    logger->set_level(r.level);
    logger->flush_on(spdlog::level::warn);
  });
  // A file sink buffers: warnings reach the file at once, the rest within a second.
  spdlog::flush_every(std::chrono::seconds(1));
}

std::string escaped(std::string_view text, size_t limit) {
  std::string out;
  auto shown = text.substr(0, limit);
  for (unsigned char c : shown) {
    if (c < 0x20 || c >= 0x7f || c == '\\')
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  if (shown.size() < text.size())
    out += fmt::format("... ({} bytes)", text.size());
  return out;
}

std::shared_ptr<spdlog::logger> get(const std::string& name) {
  auto& r = state();
  std::lock_guard<std::mutex> guard{r.mtx};
  if (auto existing = spdlog::get(name))
    return existing;
  ensure_sinks(r);
  auto logger = std::make_shared<spdlog::logger>(name, r.sinks.begin(), r.sinks.end());
  logger->set_level(r.level);
  logger->flush_on(spdlog::level::warn);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace dmoe::log
