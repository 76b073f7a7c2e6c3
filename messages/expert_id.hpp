// Expert ids form a grid: a name and one or more integer coordinates, e.g. "ffn.3.17".
// Every boundary (wire decode, config, DHT declaration) checks ids with this one function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dmoe {

constexpr size_t max_expert_id_bytes = 256;
/// Coordinates have at most 9 digits.
constexpr int64_t max_grid_coordinate = 999999999;

/// True for `name(.int)+` with name [A-Za-z_][A-Za-z0-9_-]* and coordinates without sign.
bool is_valid_expert_id(std::string_view id);

/// The grid prefixes under which an expert is declared, shortest first:
/// "ffn.3.17" -> {"ffn.", "ffn.3."}.
std::vector<std::string> grid_prefixes(std::string_view id);

/// The coordinates of a valid id: "ffn.3.17" -> {3, 17}.
std::vector<int64_t> grid_coordinates(std::string_view id);

/// The name of a valid id: "ffn.3.17" -> "ffn".
std::string_view grid_name(std::string_view id);

}  // namespace dmoe
