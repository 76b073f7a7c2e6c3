// Reading role stats (caf::settings trees) and turning them into text for people: typed lookups
// that tolerate missing or ill-typed entries, an indented rendering of a whole tree, and
// aligned tables.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/config_value.hpp>
#include <caf/settings.hpp>

namespace dmoe::inspector {

using dict = caf::config_value::dictionary;

std::optional<int64_t> int_entry(const dict& xs, std::string_view key);
/// Accepts integers too.
std::optional<double> real_entry(const dict& xs, std::string_view key);
std::optional<std::string> text_entry(const dict& xs, std::string_view key);
/// The dictionaries of list entry `key` (other list elements are skipped).
std::vector<const dict*> dict_list_entry(const dict& xs, std::string_view key);
/// The elements of list entry `key` as text.
std::vector<std::string> text_list_entry(const dict& xs, std::string_view key);

/// A scalar as people read it: strings unquoted, reals with 4 significant digits.
std::string value_text(const caf::config_value& x);

/// The whole tree, one "key: value" per line, nested entries indented by two spaces; lists of
/// dictionaries as "- " items; entries in `first` order come before the others (sorted).
std::string render_settings(const dict& xs, size_t indent = 0,
                            const std::vector<std::string>& first = {});

/// Columns padded to their widest cell, two blanks apart, a line per row, header first.
std::string render_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows);

}  // namespace dmoe::inspector
