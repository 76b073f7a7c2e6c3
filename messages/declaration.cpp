#include "messages/declaration.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include <capnp/message.h>

#include "messages/dht_codec.hpp"
#include "messages/errors.hpp"
#include "messages/expert_id.hpp"
#include "messages/payload.hpp"
#include "messages/schema/declaration.capnp.h"

namespace dmoe {

bool prefix_declaration::contains(int64_t child) const {
  if (child < 0)
    return false;
  // The ranges are ascending: the last one beginning at or before `child` is the only candidate.
  auto after = std::upper_bound(children.begin(), children.end(), child,
                                [](int64_t c, const child_range& r) { return c < r.begin; });
  return after != children.begin() && child < static_cast<int64_t>((after - 1)->end);
}

void prefix_declaration::append_children(std::vector<int64_t>& out) const {
  for (const auto& r : children)
    for (auto c = r.begin; c < r.end; ++c)
      out.push_back(c);
}

std::vector<int64_t> prefix_declaration::child_list() const {
  std::vector<int64_t> out;
  append_children(out);
  return out;
}

std::string encode_declaration(const prefix_declaration& d) {
  capnp::MallocMessageBuilder message;
  auto out = message.initRoot<wire::PrefixDeclaration>();
  out.setEndpoint(d.endpoint);
  auto ranges = out.initChildren(static_cast<unsigned>(d.children.size()));
  for (size_t i = 0; i < d.children.size(); ++i) {
    ranges[static_cast<unsigned>(i)].setBegin(d.children[i].begin);
    ranges[static_cast<unsigned>(i)].setEnd(d.children[i].end);
  }
  out.setLeaves(d.leaves);
  out.setMaxRows(d.max_rows);
  auto bytes = to_payload(message).bytes;
  return std::string(bytes.begin(), bytes.end());
}

namespace {

caf::error bad(const std::string& why) {
  return make_error(errc::malformed, "declaration: " + why);
}

}  // namespace

caf::expected<prefix_declaration> decode_declaration(std::string_view bytes) {
  payload in;
  in.bytes.assign(bytes.begin(), bytes.end());
  wire_limits limits;
  limits.max_message_bytes = dht::default_max_value_bytes;
  return decode<wire::PrefixDeclaration>(
    in, limits, [](wire::PrefixDeclaration::Reader r) -> caf::expected<prefix_declaration> {
      prefix_declaration out;
      auto endpoint = r.getEndpoint();
      if (endpoint.size() == 0 || endpoint.size() > dht::default_max_endpoint_bytes)
        return bad("an endpoint of " + std::to_string(endpoint.size()) + " bytes");
      for (unsigned char c : endpoint)
        if (c < 0x20 || c == 0x7f)
          return bad("an endpoint with a control byte");
      out.endpoint.assign(endpoint.cStr(), endpoint.size());
      auto ranges = r.getChildren();
      if (ranges.size() == 0 || ranges.size() > max_declared_ranges)
        return bad(std::to_string(ranges.size()) + " ranges (1.."
                   + std::to_string(max_declared_ranges) + " allowed)");
      uint64_t previous_end = 0;
      for (auto range : ranges) {
        auto begin = range.getBegin();
        auto end = range.getEnd();
        if (begin >= end)
          return bad("an empty range");
        if (!out.children.empty() && begin <= previous_end)
          return bad("ranges out of order or touching");
        if (end > max_grid_coordinate + 1)
          return bad("a coordinate beyond " + std::to_string(max_grid_coordinate));
        out.children.push_back({begin, end});
        previous_end = end;
      }
      out.leaves = r.getLeaves();
      out.max_rows = r.getMaxRows();
      return out;
    });
}

std::string printable_value(std::string_view value) {
  if (auto d = decode_declaration(value)) {
    std::string ranges;
    for (const auto& r : d->children) {
      if (ranges.size() > 60) {
        ranges += ",...";
        break;
      }
      ranges += (ranges.empty() ? "" : ",") + std::to_string(r.begin);
      if (r.end - r.begin > 1)
        ranges += "-" + std::to_string(r.end - 1);
    }
    return (d->leaves ? "experts " : "prefixes ") + ranges + " at " + d->endpoint;
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : value.substr(0, 80)) {
    if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return value.size() > 80 ? out + "..." : out;
}

namespace {

/// Sorted, distinct coordinates as ranges.
std::vector<child_range> ranges_of(const std::set<int64_t>& children) {
  std::vector<child_range> out;
  for (auto c : children) {
    auto u = static_cast<uint32_t>(c);
    if (!out.empty() && out.back().end == u)
      ++out.back().end;
    else
      out.push_back({u, u + 1});
  }
  return out;
}

}  // namespace

std::vector<declaration_entry> declaration_entries(const std::vector<std::string>& ids,
                                                   const std::string& endpoint, uint32_t max_rows) {
  struct prefix {
    std::set<int64_t> children;
    bool leaves = false;
  };
  std::map<std::string, prefix> prefixes;
  for (const auto& id : ids) {
    auto keys = grid_prefixes(id);
    auto coords = grid_coordinates(id);
    for (size_t i = 0; i < keys.size(); ++i) {
      auto& p = prefixes[keys[i]];
      p.children.insert(coords[i]);
      p.leaves = i + 1 == keys.size();
    }
  }
  std::vector<declaration_entry> out;
  for (const auto& [key, p] : prefixes) {
    auto ranges = ranges_of(p.children);
    for (size_t chunk = 0; chunk * max_declared_ranges < ranges.size(); ++chunk) {
      auto first = ranges.begin() + static_cast<ptrdiff_t>(chunk * max_declared_ranges);
      auto last = ranges.begin()
                  + static_cast<ptrdiff_t>(std::min(ranges.size(), (chunk + 1) * max_declared_ranges));
      prefix_declaration d{endpoint, {first, last}, p.leaves, max_rows};
      out.push_back({key, endpoint + "/" + std::to_string(chunk), encode_declaration(d)});
    }
  }
  return out;
}

}  // namespace dmoe
