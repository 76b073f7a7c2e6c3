#include "apps/link/link_options.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "messages/errors.hpp"

namespace dmoe::link {

namespace {

caf::error bad(std::string_view what, std::string_view text, const char* expected) {
  return make_error(errc::invalid_argument, "bad " + std::string(what) + " '"
                                              + std::string(text.substr(0, 64)) + "' (expected "
                                              + expected + ")");
}

/// Splits "12.5ms" into 12.5 and "ms"; false unless a finite number >= 0 leads.
bool split_number(std::string_view text, double& number, std::string_view& unit) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0)
    return false;
  std::string digits(text.substr(0, i));
  char* end = nullptr;
  number = std::strtod(digits.c_str(), &end);
  if (end != digits.c_str() + digits.size() || !std::isfinite(number) || number < 0)
    return false;
  unit = text.substr(i);
  return true;
}

}  // namespace

caf::expected<duration> parse_duration(std::string_view text, std::string_view what) {
  constexpr const char* expected = "a duration like 50ms, 1.5s or 0";
  double number = 0;
  std::string_view unit;
  if (!split_number(text, number, unit))
    return bad(what, text, expected);
  double scale = 0;
  if (unit == "ns")
    scale = 1;
  else if (unit == "us")
    scale = 1e3;
  else if (unit == "ms")
    scale = 1e6;
  else if (unit == "s")
    scale = 1e9;
  else if (unit == "min")
    scale = 60e9;
  else if (unit.empty() && number == 0)
    scale = 1;
  else
    return bad(what, text, expected);
  auto ns = number * scale;
  if (ns > 1e9 * 86400 * 365)
    return bad(what, text, "at most a year");
  return duration{static_cast<int64_t>(ns)};
}

caf::expected<uint64_t> parse_rate(std::string_view text) {
  constexpr const char* expected = "a rate like 10mbit, 512kbit, 1gbit or 0 for unlimited";
  double number = 0;
  std::string_view unit;
  if (!split_number(text, number, unit))
    return bad("rate", text, expected);
  double scale = 0;
  if (unit == "bit")
    scale = 1;
  else if (unit == "kbit")
    scale = 1e3;
  else if (unit == "mbit")
    scale = 1e6;
  else if (unit == "gbit")
    scale = 1e9;
  else if (unit.empty() && number == 0)
    scale = 1;
  else
    return bad("rate", text, expected);
  auto bits = number * scale;
  if (bits > 1e12 || (bits > 0 && bits < 8))
    return bad("rate", text, "between 8bit and 1000gbit, or 0");
  return static_cast<uint64_t>(bits);
}

caf::expected<uint64_t> parse_size(std::string_view text) {
  constexpr const char* expected = "bytes like 4096, 64KiB or 8MiB";
  double number = 0;
  std::string_view unit;
  if (!split_number(text, number, unit))
    return bad("size", text, expected);
  double scale = 0;
  if (unit.empty())
    scale = 1;
  else if (unit == "KiB")
    scale = 1024;
  else if (unit == "MiB")
    scale = 1024 * 1024;
  else if (unit == "GiB")
    scale = 1024.0 * 1024 * 1024;
  else
    return bad("size", text, expected);
  auto bytes = number * scale;
  if (bytes < 1 || bytes > 64.0 * 1024 * 1024 * 1024)
    return bad("size", text, "between 1 byte and 64GiB");
  return static_cast<uint64_t>(bytes);
}

caf::expected<outage> parse_outage(std::string_view text) {
  auto plus = text.find('+');
  if (plus == std::string_view::npos)
    return bad("outage", text, "START+LENGTH, e.g. 30s+5s");
  auto start = parse_duration(text.substr(0, plus), "outage start");
  if (!start)
    return start.error();
  auto length = parse_duration(text.substr(plus + 1), "outage length");
  if (!length)
    return length.error();
  if (length->count() == 0)
    return bad("outage", text, "a length above 0");
  return outage{*start, *length};
}

caf::expected<outage_mode> parse_outage_mode(std::string_view text) {
  if (text == "hold")
    return outage_mode::hold;
  if (text == "reset")
    return outage_mode::reset;
  return bad("outage mode", text, "hold or reset");
}

}  // namespace dmoe::link
