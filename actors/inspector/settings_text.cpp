#include "actors/inspector/settings_text.hpp"

#include <algorithm>
#include <string_view>

#include <fmt/format.h>

namespace dmoe::inspector {

namespace {

const caf::config_value* entry(const dict& xs, std::string_view key) {
  auto i = xs.find(caf::string_view{key.data(), key.size()});
  return i == xs.end() ? nullptr : &i->second;
}

template <class T>
const T* entry_as(const dict& xs, std::string_view key) {
  auto* x = entry(xs, key);
  return x ? caf::get_if<T>(&x->get_data()) : nullptr;
}

bool is_scalar(const caf::config_value& x) {
  const auto& d = x.get_data();
  return !caf::holds_alternative<caf::config_value::list>(d)
         && !caf::holds_alternative<dict>(d);
}

bool all_scalar(const dict& xs) {
  return std::all_of(xs.begin(), xs.end(), [](const auto& kv) { return is_scalar(kv.second); });
}

std::string inline_dict(const dict& xs) {
  std::string out;
  if (auto* id = entry_as<std::string>(xs, "id"))  // ids lead, they name the item
    out = *id;
  for (const auto& [key, value] : xs) {
    if (key == "id")
      continue;
    if (!out.empty())
      out += "  ";
    out += key + "=" + value_text(value);
  }
  return out;
}

void render_value(std::string& out, const std::string& key, const caf::config_value& value,
                  size_t indent);

void render_list(std::string& out, const caf::config_value::list& xs, size_t indent) {
  std::string pad(indent, ' ');
  for (const auto& x : xs) {
    if (auto* d = caf::get_if<dict>(&x.get_data())) {
      if (all_scalar(*d))
        out += pad + "- " + inline_dict(*d) + "\n";
      else
        out += pad + "-\n" + render_settings(*d, indent + 2);
    } else if (auto* l = caf::get_if<caf::config_value::list>(&x.get_data())) {
      out += pad + "-\n";
      render_list(out, *l, indent + 2);
    } else {
      out += pad + "- " + value_text(x) + "\n";
    }
  }
}

void render_value(std::string& out, const std::string& key, const caf::config_value& value,
                  size_t indent) {
  std::string pad(indent, ' ');
  const auto& d = value.get_data();
  if (auto* xs = caf::get_if<dict>(&d)) {
    out += pad + key + ":\n" + render_settings(*xs, indent + 2);
  } else if (auto* xs = caf::get_if<caf::config_value::list>(&d)) {
    if (xs->empty()) {
      out += pad + key + ": (none)\n";
      return;
    }
    out += pad + key + ":\n";
    render_list(out, *xs, indent + 2);
  } else {
    out += pad + key + ": " + value_text(value) + "\n";
  }
}

}  // namespace

std::string value_text(const caf::config_value& x) {
  const auto& d = x.get_data();
  if (auto* s = caf::get_if<std::string>(&d))
    return *s;
  if (auto* r = caf::get_if<double>(&d))
    return fmt::format("{:.4g}", *r);
  return caf::to_string(x);
}

std::string render_settings(const dict& xs, size_t indent, const std::vector<std::string>& first) {
  std::string out;
  for (const auto& key : first)
    if (auto* x = entry(xs, key))
      render_value(out, key, *x, indent);
  for (const auto& [key, value] : xs)
    if (std::find(first.begin(), first.end(), key) == first.end())
      render_value(out, key, value, indent);
  return out;
}

std::string render_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(header.size());
  for (size_t c = 0; c < header.size(); ++c)
    widths[c] = header[c].size();
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size() && c < widths.size(); ++c)
      widths[c] = std::max(widths[c], row[c].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < widths.size(); ++c) {
      const auto& cell = c < cells.size() ? cells[c] : std::string{};
      out += cell;
      if (c + 1 < widths.size())
        out += std::string(widths[c] - cell.size() + 2, ' ');
    }
    out.erase(out.find_last_not_of(' ') + 1);
    return out + "\n";
  };
  std::string out = line(header);
  for (const auto& row : rows)
    out += line(row);
  return out;
}

}  // namespace dmoe::inspector
