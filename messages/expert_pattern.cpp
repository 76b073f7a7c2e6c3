#include "messages/expert_pattern.hpp"

#include <algorithm>
#include <charconv>
#include <random>
#include <set>

#include "messages/errors.hpp"
#include "messages/expert_id.hpp"

namespace dmoe {

namespace {

struct coordinate_range {
  int64_t begin = 0;
  int64_t end = 0;  // exclusive
};

caf::error pattern_error(const std::string& pattern, const std::string& why) {
  return make_error(errc::invalid_argument,
                    "bad expert pattern '" + pattern.substr(0, 64) + "': " + why
                      + " (expected e.g. ffn.[0:4].[0:4] or ffn.3.[0:8])");
}

bool parse_number(std::string_view text, int64_t& out) {
  if (text.empty() || text.size() > 9)
    return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size() && out >= 0;
}

caf::expected<coordinate_range> parse_coordinate(std::string_view part, const std::string& pattern) {
  coordinate_range range;
  if (part.size() >= 2 && part.front() == '[' && part.back() == ']') {
    auto inner = part.substr(1, part.size() - 2);
    auto colon = inner.find(':');
    if (colon == std::string_view::npos || !parse_number(inner.substr(0, colon), range.begin)
        || !parse_number(inner.substr(colon + 1), range.end))
      return pattern_error(pattern, "range '" + std::string{part} + "' is not [begin:end]");
    if (range.begin >= range.end)
      return pattern_error(pattern, "empty range '" + std::string{part} + "'");
    return range;
  }
  if (!parse_number(part, range.begin))
    return pattern_error(pattern, "coordinate '" + std::string{part} + "' is not a number or a range");
  range.end = range.begin + 1;
  return range;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

namespace {

caf::expected<std::vector<std::string>> expand_one_pattern(const std::string& pattern) {
  // Split on dots outside brackets (ranges contain no dots, so a plain split is enough).
  std::vector<std::string_view> parts;
  std::string_view rest{pattern};
  for (;;) {
    auto dot = rest.find('.');
    parts.push_back(rest.substr(0, dot));
    if (dot == std::string_view::npos)
      break;
    rest.remove_prefix(dot + 1);
  }
  if (parts.size() < 2)
    return pattern_error(pattern, "no coordinates");
  std::string name{parts[0]};
  if (!is_valid_expert_id(name + ".0"))
    return pattern_error(pattern, "invalid grid name '" + name + "'");
  std::vector<coordinate_range> ranges;
  size_t total = 1;
  for (size_t i = 1; i < parts.size(); ++i) {
    auto range = parse_coordinate(parts[i], pattern);
    if (!range)
      return range.error();
    total *= static_cast<size_t>(range->end - range->begin);
    if (total > max_pattern_ids)
      return pattern_error(pattern, "more than " + std::to_string(max_pattern_ids) + " experts");
    ranges.push_back(*range);
  }
  std::vector<std::string> ids;
  ids.reserve(total);
  std::vector<int64_t> current;
  for (auto& r : ranges)
    current.push_back(r.begin);
  for (size_t n = 0; n < total; ++n) {
    std::string id = name;
    for (auto c : current)
      id += "." + std::to_string(c);
    if (!is_valid_expert_id(id))
      return pattern_error(pattern, "produces the invalid id '" + id + "'");
    ids.push_back(std::move(id));
    // Row-major increment: the last coordinate varies fastest.
    for (size_t d = ranges.size(); d-- > 0;) {
      if (++current[d] < ranges[d].end)
        break;
      current[d] = ranges[d].begin;
    }
  }
  return ids;
}

}  // namespace

caf::expected<std::vector<std::string>> expand_expert_pattern(const std::string& patterns) {
  std::vector<std::string> ids;
  std::set<std::string> seen;
  size_t start = 0;
  do {
    auto comma = patterns.find(',', start);
    auto one = patterns.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto expanded = expand_one_pattern(one);
    if (!expanded)
      return expanded.error();
    if (ids.size() + expanded->size() > max_pattern_ids)
      return pattern_error(patterns, "more than " + std::to_string(max_pattern_ids) + " experts");
    for (auto& id : *expanded)
      if (seen.insert(id).second)
        ids.push_back(std::move(id));
    start = comma == std::string::npos ? std::string::npos : comma + 1;
  } while (start != std::string::npos);
  return ids;
}

caf::expected<std::vector<std::string>> sample_expert_ids(const std::vector<std::string>& ids,
                                                          size_t count, uint64_t seed) {
  if (count == 0 || count == ids.size())
    return ids;
  if (count > ids.size())
    return make_error(errc::invalid_argument,
                      "asked for " + std::to_string(count) + " experts but the pattern has only "
                        + std::to_string(ids.size()));
  // Partial Fisher-Yates over indices with a fixed engine and plain modulo, so the sample is the
  // same with every standard library (std::shuffle and distributions are not portable).
  std::vector<size_t> order(ids.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::mt19937_64 rng{seed};
  for (size_t i = 0; i < count; ++i)
    std::swap(order[i], order[i + rng() % (order.size() - i)]);
  order.resize(count);
  std::sort(order.begin(), order.end());
  std::vector<std::string> out;
  for (auto i : order)
    out.push_back(ids[i]);
  return out;
}

uint64_t stable_hash(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

uint64_t expert_seed(uint64_t server_seed, std::string_view expert_id) {
  return splitmix64(server_seed ^ splitmix64(stable_hash(expert_id)));
}

}  // namespace dmoe
