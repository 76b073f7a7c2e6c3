// Templates of runtime/option_table.hpp; include that header, not this one.
#pragma once

#include <algorithm>

#include <caf/config_value.hpp>
#include <caf/make_config_option.hpp>
#include <caf/pec.hpp>

namespace dmoe {

template <class E>
const caf::config_option::meta_state* choice_meta_state() {
  static const caf::config_option::meta_state meta{
    [](const caf::config_value& x) -> caf::error {
      auto text = caf::get_if<std::string>(&x);
      if (text != nullptr && parse_choice<E>(*text))
        return caf::none;
      return caf::make_error(caf::pec::type_mismatch);
    },
    [](void* ptr, const caf::config_value& x) {
      *static_cast<E*>(ptr) = *parse_choice<E>(caf::get<std::string>(x));
    },
    [](const void* ptr) {
      return caf::config_value{std::string{name_of(*static_cast<const E*>(ptr))}};
    },
    [](void* ptr, caf::string_view input) -> caf::expected<caf::config_value> {
      std::string text(input.begin(), input.end());
      if (text.size() >= 2 && text.front() == '"' && text.back() == '"')
        text = text.substr(1, text.size() - 2);
      auto value = parse_choice<E>(text);
      if (!value)
        return caf::make_error(caf::pec::type_mismatch);
      if (ptr != nullptr)
        *static_cast<E*>(ptr) = *value;
      return caf::config_value{std::move(text)};
    },
    list_names(choice_names<E>::names)};
  return &meta;
}

template <class T>
std::string option_table::group_adder::type_of() {
  if constexpr (std::is_same_v<T, bool>)
    return "boolean";
  else if constexpr (std::is_integral_v<T>)
    return "integer";
  else if constexpr (std::is_floating_point_v<T>)
    return "real";
  else if constexpr (std::is_same_v<T, caf::timespan>)
    return "duration";
  else if constexpr (std::is_same_v<T, std::string>)
    return "string";
  else if constexpr (std::is_same_v<T, std::vector<std::string>>)
    return "list of strings";
  else
    return "list of integers";
}

template <class T>
std::string option_table::group_adder::bounds_text(const range<T>& bounds) {
  if constexpr (std::is_same_v<T, caf::timespan>)
    if (bounds.min == caf::timespan{1} && bounds.max == largest<T>())
      return "> 0";
  if constexpr (std::is_floating_point_v<T>)
    if (bounds.min == std::numeric_limits<T>::min() && bounds.max == largest<T>())
      return "> 0";
  if (bounds.max == largest<T>())
    return ">= " + option_text(bounds.min);
  return option_text(bounds.min) + ".." + option_text(bounds.max);
}

template <class T>
option_table::group_adder&
option_table::group_adder::add_entry(T& field, std::string_view name, std::string_view help,
                                     std::string type, std::string bounds,
                                     std::function<std::optional<std::string>()> check) {
  if constexpr (std::is_enum_v<T>)
    table_.target_.add(caf::config_option{group_, name, help, choice_meta_state<T>(), &field});
  else
    table_.target_.add(field, group_, name, help);
  std::string default_value;
  if constexpr (std::is_enum_v<T>)
    default_value = option_text(std::string{name_of(field)});
  else
    default_value = option_text(field);
  table_.docs_.push_back(option_doc{group_, std::string{name}, std::move(type),
                                    std::move(default_value), std::move(bounds),
                                    std::string{help}});
  if (check)
    table_.checks_.push_back(std::move(check));
  return *this;
}

template <class E>
option_table::group_adder& option_table::group_adder::add_choice(E& field, std::string_view name,
                                                                  std::string_view help) {
  // The field can hold nothing but one of its names: no check needed after parsing.
  return add_entry(field, name, help, "one of " + list_names(choice_names<E>::names), {}, {});
}

template <class T>
option_table::group_adder& option_table::group_adder::add(T& field, std::string_view name,
                                                          std::string_view help,
                                                          std::vector<std::string> choices) {
  static_assert(std::is_same_v<T, std::string> || std::is_same_v<T, std::vector<std::string>>,
                "choices apply to strings and lists of strings");
  auto full = full_name(name);
  auto names = list_names(choices);
  auto check = [&field, choices, full, names]() -> std::optional<std::string> {
    auto known = [&](const std::string& value) {
      return std::find(choices.begin(), choices.end(), value) != choices.end();
    };
    if constexpr (std::is_same_v<T, std::string>) {
      if (!known(field))
        return "bad value '" + field + "' for '" + full + "' (expected " + names + ")";
    } else {
      for (const auto& value : field)
        if (!known(value))
          return "bad value '" + value + "' in '" + full + "' (expected " + names + ")";
    }
    return std::nullopt;
  };
  auto type = std::is_same_v<T, std::string> ? "one of " + names : "list of " + names;
  return add_entry(field, name, help, std::move(type), {}, std::move(check));
}

}  // namespace dmoe
