// Splitting an inspector command line into words: blanks separate words, double or single
// quotes group them ("" is an empty word), a backslash escapes the next character.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace dmoe::inspector {

constexpr size_t max_command_bytes = 4096;

/// The words of `line`; an error for an unclosed quote, a trailing backslash or a line longer
/// than max_command_bytes.
caf::expected<std::vector<std::string>> split_words(std::string_view line);

}  // namespace dmoe::inspector
