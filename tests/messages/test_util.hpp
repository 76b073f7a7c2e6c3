// Small helpers shared by the messages/ test suites (no LibTorch here).
#pragma once

#include <string>

#include <caf/expected.hpp>

#include "messages/errors.hpp"

namespace dmoe::test {

/// "ok" for a value, else the dmoe error code's name: checks then print what they got.
template <class T>
std::string outcome(const caf::expected<T>& x) {
  return x ? std::string("ok") : std::string(to_string(code_of(x.error())));
}

inline std::string outcome(const caf::error& err) {
  return err ? std::string(to_string(code_of(err))) : std::string("ok");
}

}  // namespace dmoe::test
