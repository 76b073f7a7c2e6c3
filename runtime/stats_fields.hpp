// Stats structs name their fields once, in `fields_of(x)`: a tuple of (name, member) pairs.
// From that one list come CAF's inspect() (serialization, caf::to_string) and to_settings(), the
// generic tree the inspector renders for `stats`. A struct opts in by declaring, in its own
// namespace,
//   inline auto fields_of(my_stats& x) { return std::make_tuple(field("a", x.a), ...); }
// and `using dmoe::inspect;` (so argument-dependent lookup finds the generic inspect below).
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/config_value.hpp>
#include <caf/settings.hpp>

namespace dmoe {

template <class T>
struct named_field {
  const char* name;
  T& value;
};

template <class T>
named_field<T> field(const char* name, T& value) {
  return {name, value};
}

template <class T, class = void>
struct has_fields : std::false_type {};

template <class T>
struct has_fields<T, std::void_t<decltype(fields_of(std::declval<T&>()))>> : std::true_type {};

/// CAF's inspect() for every struct with fields_of().
template <class Inspector, class T>
std::enable_if_t<has_fields<T>::value, typename Inspector::result_type> inspect(Inspector& f,
                                                                                 T& x) {
  return std::apply([&f](auto... fs) { return f(fs.value...); }, fields_of(x));
}

template <class T>
caf::settings to_settings(const T& x);

/// One field's value as a config value: numbers, text, flags, lists and nested structs.
template <class T>
caf::config_value to_config_value(const T& x) {
  if constexpr (has_fields<T>::value) {
    return caf::config_value{to_settings(x)};
  } else if constexpr (std::is_same<T, bool>::value) {
    return caf::config_value{x};
  } else if constexpr (std::is_integral<T>::value) {
    return caf::config_value{static_cast<int64_t>(x)};
  } else if constexpr (std::is_floating_point<T>::value) {
    return caf::config_value{static_cast<double>(x)};
  } else if constexpr (std::is_same<T, std::string>::value) {
    return caf::config_value{x};
  } else {
    caf::config_value::list out;
    for (const auto& element : x)
      out.emplace_back(to_config_value(element));
    return caf::config_value{std::move(out)};
  }
}

/// The struct as a settings tree keyed by its field names.
template <class T>
caf::settings to_settings(const T& x) {
  caf::settings out;
  auto put = [&out](auto... fs) {
    (out.emplace(std::string{fs.name}, to_config_value(fs.value)), ...);
  };
  std::apply(put, fields_of(const_cast<T&>(x)));
  return out;
}

}  // namespace dmoe
