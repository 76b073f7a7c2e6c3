#include "apps/shell/line_editor.hpp"

#include <cstdio>
#include <cstdlib>
#include <memory>

#include <readline/history.h>
#include <readline/readline.h>

namespace dmoe::shell {

line_editor::line_editor(std::string history_file) : history_file_(std::move(history_file)) {
  using_history();
  stifle_history(max_history_lines);
  if (!history_file_.empty())
    read_history(history_file_.c_str());  // a missing file is a fresh history
}

line_editor::~line_editor() {
  if (!history_file_.empty())
    history_truncate_file(history_file_.c_str(), max_history_lines);
}

std::optional<std::string> line_editor::read(const std::string& prompt) {
  std::unique_ptr<char, decltype(&std::free)> raw{readline(prompt.c_str()), &std::free};
  if (!raw)
    return std::nullopt;
  std::string line{raw.get()};
  if (line.find_first_not_of(" \t") != std::string::npos) {
    auto* last = history_length > 0 ? history_get(history_base + history_length - 1) : nullptr;
    if (last == nullptr || line != last->line) {
      add_history(line.c_str());
      if (!history_file_.empty()) {
        // Appending line by line keeps the history even when the shell is killed.
        if (append_history(1, history_file_.c_str()) != 0)
          write_history(history_file_.c_str());
      }
    }
  }
  return line;
}

std::string line_editor::default_history_file() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0')
    return {};
  return std::string{home} + "/.dmoe_shell_history";
}

}  // namespace dmoe::shell
