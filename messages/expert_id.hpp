// Expert ids form a grid: a name and one or more integer coordinates, e.g. "ffn.3.17".
// Every boundary (wire decode, config, DHT declaration) checks ids with this one function.
#pragma once

#include <cstdint>
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

/// One (key, label, value) item an expert server stores in the DHT to declare an expert.
struct declaration_entry {
  std::string key;
  std::string label;  // the sub-key's part before '#<owner>'
  std::string value;
};

/// How a server at `endpoint` ("host:port") declares expert `id`, e.g. "ffn.3.17":
///   key "ffn."     label "3"         value endpoint   (some expert under ffn.3. is live)
///   key "ffn.3."   label "17"        value endpoint   (ffn.3.17 is live)
///   key "ffn.3.17" label endpoint    value endpoint   (one entry per replica)
/// Each label becomes the owned sub-key "LABEL#<the server node's key>", signed by that node
/// (actors/dht/ownership.hpp): one entry per server and label. Routers walk the prefixes
/// coordinate by coordinate (beam search) and read the id's own key for its replicas.
std::vector<declaration_entry> declaration_entries(std::string_view id, const std::string& endpoint);

/// The coordinates of a valid id: "ffn.3.17" -> {3, 17}.
std::vector<int64_t> grid_coordinates(std::string_view id);

/// The name of a valid id: "ffn.3.17" -> "ffn".
std::string_view grid_name(std::string_view id);

}  // namespace dmoe
