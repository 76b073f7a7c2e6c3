// How an expert server declares its experts in the DHT, and how routers read it back. Under
// each grid prefix key a server stores one owned item per chunk: the children of that prefix it
// hosts (as ranges of coordinates), whether those children are experts or deeper prefixes, and
// its endpoint. Replicas of an expert are the items of different servers under its parent
// prefix that list its last coordinate. Values are Cap'n Proto (schema/declaration.capnp),
// validated on decode.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

namespace dmoe {

/// Children begin..end-1 of a prefix.
struct child_range {
  uint32_t begin = 0;
  uint32_t end = 0;
  friend bool operator==(const child_range& a, const child_range& b) {
    return a.begin == b.begin && a.end == b.end;
  }
};

struct prefix_declaration {
  std::string endpoint;
  std::vector<child_range> children;  // ascending, disjoint, not touching
  bool leaves = false;                // children complete expert ids
  uint32_t max_rows = 0;              // most rows one call may carry; 0: not said

  bool contains(int64_t child) const;
  /// Every child, ascending.
  std::vector<int64_t> child_list() const;
  /// Appends every child coordinate to `out` (child_list without a vector of its own).
  void append_children(std::vector<int64_t>& out) const;
  friend bool operator==(const prefix_declaration& a, const prefix_declaration& b) {
    return a.endpoint == b.endpoint && a.children == b.children && a.leaves == b.leaves
           && a.max_rows == b.max_rows;
  }
};

/// Most ranges one declaration item carries; larger sets are split over several items.
constexpr size_t max_declared_ranges = 1024;

std::string encode_declaration(const prefix_declaration& d);

/// Decodes and validates a DHT item's value: an endpoint of at most `max_endpoint_bytes`
/// without control bytes, 1..max_declared_ranges ranges, each non-empty, ascending and apart.
caf::expected<prefix_declaration> decode_declaration(std::string_view bytes);

/// A DHT item's value for people: a declaration as "experts 0-63 at host:port" ("prefixes ..."
/// when its children are not experts), any other value cut to 80 bytes with control and
/// non-ASCII bytes escaped (\xNN).
std::string printable_value(std::string_view value);

/// One (key, label, value) item a server stores in the DHT to declare its experts.
struct declaration_entry {
  std::string key;
  std::string label;  // the owned sub-key's part before '#<owner>': "<endpoint>/<chunk>"
  std::string value;  // encode_declaration(...)
};

/// What a server at `endpoint` stores to declare the valid expert ids `ids`: for every prefix of
/// every id, the children it hosts under it, e.g. for ffn.3.0 .. ffn.3.63 and ffn.4.0 at h:1:
///   key "ffn."   label "h:1/0"  {children [3, 5), leaves false}
///   key "ffn.3." label "h:1/0"  {children [0, 64), leaves true}
///   key "ffn.4." label "h:1/0"  {children [0, 1), leaves true}
/// A prefix with more than max_declared_ranges ranges is split over labels "h:1/0", "h:1/1", ...
/// The endpoint in the label keeps apart two servers that declare through one DHT node. Each
/// item says `max_rows`, the server's batch limit, so routers split bigger calls from the start.
std::vector<declaration_entry> declaration_entries(const std::vector<std::string>& ids,
                                                   const std::string& endpoint,
                                                   uint32_t max_rows = 0);

}  // namespace dmoe
