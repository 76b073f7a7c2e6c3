// Turning role stats (as settings trees: runtime/stats_fields.hpp, to_settings) into text for
// people: an indented rendering of a whole tree, and aligned tables.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/config_value.hpp>
#include <caf/settings.hpp>

namespace dmoe::inspector {

using dict = caf::config_value::dictionary;

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
