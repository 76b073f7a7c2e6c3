// The one place a node's options are declared (runtime/option_declarations.cpp fills it): each
// option's group, name, the field it fills, its help, and its bounds or choices; its default
// is the field's initial value. From this list come CAF's config-file and command-line
// parsing, the bounds checks, `dmoe-node --help` and docs/config.md.
#pragma once

#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <caf/config_option_set.hpp>
#include <caf/error.hpp>
#include <caf/timestamp.hpp>

#include "runtime/choices.hpp"

namespace dmoe {

/// The largest value of a number or a duration.
template <class T>
constexpr T largest() {
  if constexpr (std::is_same_v<T, caf::timespan>)
    return caf::timespan::max();
  else
    return std::numeric_limits<T>::max();
}

/// Inclusive bounds of a number or a duration.
template <class T>
struct range {
  T min;
  T max = largest<T>();
};

/// A duration or a real number that must be > 0.
inline constexpr range<caf::timespan> positive_duration{caf::timespan{1}};
inline constexpr range<double> positive_real{std::numeric_limits<double>::min()};

/// What docs/config.md and --help say of one option.
struct option_doc {
  std::string group;
  std::string name;
  std::string type;           // "integer", "duration", "one of adam, sgd", ...
  std::string default_value;  // as a config file would write it
  std::string bounds;         // "1..65536", "> 0", or empty
  std::string help;
};

/// Text forms of values, as a config file writes them.
std::string option_text(bool value);
std::string option_text(double value);
std::string option_text(caf::timespan value);
std::string option_text(const std::string& value);
std::string option_text(const std::vector<std::string>& values);
std::string option_text(const std::vector<int64_t>& values);
template <class T, class = std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>>
std::string option_text(T value) {
  return std::to_string(value);
}

class option_table {
public:
  /// Adds the options of one group ([node], [server], ...).
  class group_adder {
  public:
    /// An option with no bounds beyond its type.
    template <class T>
    group_adder& add(T& field, std::string_view name, std::string_view help) {
      if constexpr (std::is_enum_v<T>)
        return add_choice(field, name, help);
      else
        return add_entry(field, name, help, type_of<T>(), {}, {});
    }
    /// A number or duration in `bounds`.
    template <class T>
    group_adder& add(T& field, std::string_view name, std::string_view help, range<T> bounds) {
      auto text = bounds_text(bounds);
      auto full = full_name(name);
      auto check = [&field, bounds, full, text]() -> std::optional<std::string> {
        if (field >= bounds.min && field <= bounds.max)  // false for NaN too
          return std::nullopt;
        return "'" + full + "' must be " + (text.front() == '>' ? "" : "in ") + text + " (is "
               + option_text(field) + ")";
      };
      return add_entry(field, name, help, type_of<T>(), text, std::move(check));
    }
    /// A string (or each string of a list) that must be one of `choices`.
    template <class T>
    group_adder& add(T& field, std::string_view name, std::string_view help,
                     std::vector<std::string> choices);

  private:
    friend class option_table;
    group_adder(option_table& table, std::string group) : table_(table), group_(std::move(group)) {
    }
    std::string full_name(std::string_view name) const {
      return group_ + "." + std::string{name};
    }
    template <class T>
    group_adder& add_entry(T& field, std::string_view name, std::string_view help,
                           std::string type, std::string bounds,
                           std::function<std::optional<std::string>()> check);
    template <class E>
    group_adder& add_choice(E& field, std::string_view name, std::string_view help);

    template <class T>
    static std::string type_of();
    template <class T>
    static std::string bounds_text(const range<T>& bounds);

    option_table& table_;
    std::string group_;
  };

  explicit option_table(caf::config_option_set& target) : target_(target) {
  }

  /// Starts a group; `summary` heads its section in docs/config.md.
  group_adder group(std::string name, std::string summary);

  /// The first option whose value is out of its bounds or choices, as a config error.
  caf::error check() const;

  /// `dmoe-node --help`: every group and option with type, default, bounds and help.
  std::string help_text() const;

  /// docs/config.md.
  std::string markdown() const;

  const std::vector<option_doc>& docs() const {
    return docs_;
  }

private:
  struct group_doc {
    std::string name;
    std::string summary;
  };

  caf::config_option_set& target_;
  std::vector<group_doc> groups_;
  std::vector<option_doc> docs_;
  std::vector<std::function<std::optional<std::string>()>> checks_;
};

/// CAF's vtable for an option whose field is the enum `E`: its value is one of E's names.
template <class E>
const caf::config_option::meta_state* choice_meta_state();

}  // namespace dmoe

#include "runtime/option_table_impl.hpp"
