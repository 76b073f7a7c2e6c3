// Interactive input for dmoe-shell: GNU readline line editing and a history file that keeps
// every entered line across sessions.
#pragma once

#include <optional>
#include <string>

namespace dmoe::shell {

constexpr int max_history_lines = 1000;

class line_editor {
public:
  /// Loads the history from `history_file` (none when empty).
  explicit line_editor(std::string history_file);
  ~line_editor();

  line_editor(const line_editor&) = delete;
  line_editor& operator=(const line_editor&) = delete;

  /// The next line without its newline; nothing at end of input.
  std::optional<std::string> read(const std::string& prompt);

  /// ~/.dmoe_shell_history, or empty when HOME is not set.
  static std::string default_history_file();

private:
  std::string history_file_;
};

}  // namespace dmoe::shell
