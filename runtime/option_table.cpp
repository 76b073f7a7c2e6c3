#include "runtime/option_table.hpp"

#include <chrono>

#include <fmt/format.h>

#include "messages/errors.hpp"

namespace dmoe {

std::string option_text(bool value) {
  return value ? "true" : "false";
}

std::string option_text(double value) {
  return fmt::format("{}", value);
}

std::string option_text(caf::timespan value) {
  using namespace std::chrono;
  if (value == caf::timespan::max())
    return "infinite";
  auto ns = value.count();
  struct unit {
    int64_t ns;
    const char* suffix;
  };
  constexpr unit units[] = {{3'600'000'000'000, "h"}, {60'000'000'000, "min"},
                            {1'000'000'000, "s"},     {1'000'000, "ms"},
                            {1'000, "us"},            {1, "ns"}};
  if (ns == 0)
    return "0s";
  for (const auto& u : units)
    if (ns % u.ns == 0)
      return std::to_string(ns / u.ns) + u.suffix;
  return std::to_string(ns) + "ns";
}

std::string option_text(const std::string& value) {
  return "\"" + value + "\"";
}

std::string option_text(const std::vector<std::string>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i)
    out += (i > 0 ? ", \"" : "\"") + values[i] + "\"";
  return out + "]";
}

std::string option_text(const std::vector<int64_t>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i)
    out += (i > 0 ? ", " : "") + std::to_string(values[i]);
  return out + "]";
}

option_table::group_adder option_table::group(std::string name, std::string summary) {
  groups_.push_back(group_doc{name, std::move(summary)});
  return group_adder{*this, std::move(name)};
}

caf::error option_table::check() const {
  for (const auto& check : checks_)
    if (auto problem = check())
      return make_error(errc::invalid_argument, "config: " + *problem);
  return caf::none;
}

namespace {

/// `text` in lines of at most `width` characters, each after `indent`.
std::string wrapped(const std::string& text, const std::string& indent, size_t width = 96) {
  std::string out, line;
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find(' ', start);
    if (end == std::string::npos)
      end = text.size();
    auto word = text.substr(start, end - start);
    if (!line.empty() && indent.size() + line.size() + 1 + word.size() > width) {
      out += indent + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
    start = end + 1;
  }
  if (!line.empty())
    out += indent + line + "\n";
  return out;
}

}  // namespace

std::string option_table::help_text() const {
  std::string out;
  for (const auto& group : groups_) {
    out += "\n" + wrapped("[" + group.name + "] " + group.summary, "");
    for (const auto& doc : docs_) {
      if (doc.group != group.name)
        continue;
      auto facts = doc.type;
      if (!doc.bounds.empty())
        facts += ", " + doc.bounds;
      facts += ", default " + doc.default_value;
      out += fmt::format("  --{}.{}  ({})\n", doc.group, doc.name, facts);
      out += wrapped(doc.help, "      ");
    }
  }
  return out;
}

namespace {

/// A table cell: pipes escaped, so a help text cannot break the row.
std::string cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|')
      out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string option_table::markdown() const {
  std::string out =
    "# Configuration reference\n\n"
    "Every option of `dmoe-node`, generated from its declarations "
    "(`runtime/option_declarations.cpp`) by `build/apps/dmoe-node --config-reference`; "
    "the test suite `runtime.node_config` fails when this file is stale.\n\n"
    "A node reads a config file in CAF's INI syntax (`--config-file=FILE`; strings quoted, "
    "durations as `2s`, `200ms`, `24h`) and command-line overrides `--group.key=value`. An "
    "unknown key, an ill-typed value or one outside its bounds stops the node at start with a "
    "message naming the key (exit code 2). Besides the options below, the node takes CAF's "
    "own groups; dmoe sets `middleman.heartbeat-interval` (200ms) and "
    "`middleman.connection-timeout` (2s): a peer not heard from for that long is dropped.\n";
  for (const auto& group : groups_) {
    out += fmt::format("\n## [{}]\n\n{}\n\n", group.name, group.summary);
    out += "| option | type | default | bounds | what it does |\n|---|---|---|---|---|\n";
    for (const auto& doc : docs_)
      if (doc.group == group.name)
        out += fmt::format("| `{}` | {} | `{}` | {} | {} |\n", doc.name, cell(doc.type),
                           cell(doc.default_value), cell(doc.bounds), cell(doc.help));
  }
  return out;
}

}  // namespace dmoe
