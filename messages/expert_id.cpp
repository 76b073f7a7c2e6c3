#include "messages/expert_id.hpp"

namespace dmoe {

namespace {

bool is_name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9') || c == '-';
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

bool is_valid_expert_id(std::string_view id) {
  if (id.empty() || id.size() > max_expert_id_bytes || !is_name_start(id[0]))
    return false;
  size_t i = 1;
  while (i < id.size() && is_name_char(id[i]))
    ++i;
  size_t coordinates = 0;
  while (i < id.size()) {
    if (id[i] != '.')
      return false;
    size_t start = ++i;
    while (i < id.size() && is_digit(id[i]))
      ++i;
    if (i == start || i - start > 9)  // coordinates fit in an int32
      return false;
    ++coordinates;
  }
  return coordinates > 0;
}

std::vector<std::string> grid_prefixes(std::string_view id) {
  std::vector<std::string> out;
  for (size_t i = 0; i < id.size(); ++i)
    if (id[i] == '.')
      out.emplace_back(id.substr(0, i + 1));
  return out;
}

std::vector<int64_t> grid_coordinates(std::string_view id) {
  std::vector<int64_t> out;
  auto prefixes = grid_prefixes(id);
  for (size_t i = 0; i < prefixes.size(); ++i) {
    auto end = i + 1 < prefixes.size() ? prefixes[i + 1].size() - 1 : id.size();
    out.push_back(std::stoll(std::string{id.substr(prefixes[i].size(), end - prefixes[i].size())}));
  }
  return out;
}

std::string_view grid_name(std::string_view id) {
  return id.substr(0, id.find('.'));
}

}  // namespace dmoe
