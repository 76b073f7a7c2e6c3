// Expert ids form a grid: a name and one or more integer coordinates, e.g. "ffn.3.17".
// Every boundary (wire decode, config, DHT declaration) checks ids with this one function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dmoe {

constexpr size_t max_expert_id_bytes = 256;

/// True for `name(.int)+` with name [A-Za-z_][A-Za-z0-9_-]* and coordinates without sign.
bool is_valid_expert_id(std::string_view id);

/// The grid prefixes under which an expert is declared, shortest first:
/// "ffn.3.17" -> {"ffn.", "ffn.3."}.
std::vector<std::string> grid_prefixes(std::string_view id);

}  // namespace dmoe
