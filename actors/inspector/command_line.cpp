#include "actors/inspector/command_line.hpp"

#include "messages/errors.hpp"

namespace dmoe::inspector {

caf::expected<std::vector<std::string>> split_words(std::string_view line) {
  if (line.size() > max_command_bytes)
    return make_error(errc::limit_exceeded, "command of " + std::to_string(line.size()) +
                                              " bytes exceeds " +
                                              std::to_string(max_command_bytes));
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '\\') {
      if (++i == line.size())
        return make_error(errc::invalid_argument, "the command ends with a lone backslash");
      word += line[i];
      in_word = true;
    } else if (quote != 0) {
      if (c == quote)
        quote = 0;
      else
        word += c;
    } else if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word)
        words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0)
    return make_error(errc::invalid_argument, std::string("unclosed quote ") + quote);
  if (in_word)
    words.push_back(std::move(word));
  return words;
}

}  // namespace dmoe::inspector
