// What every harness does with libFuzzer's bytes: a payload, as a peer's message would arrive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "messages/payload.hpp"

namespace dmoe::fuzz {

inline payload as_payload(const uint8_t* data, size_t size) {
  payload p;
  p.bytes.assign(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size);
  return p;
}

/// Limits small enough that a mutated size field is often over them (both paths get run).
inline wire_limits small_limits() {
  wire_limits l;
  l.max_message_bytes = 1 << 20;
  l.max_tensor_bytes = 1 << 18;
  return l;
}

/// Reports a broken invariant the way libFuzzer reports a crash (the input is saved).
[[noreturn]] inline void broken(const std::string& why) {
  std::fprintf(stderr, "invariant broken: %s\n", why.c_str());
  __builtin_trap();
}

}  // namespace dmoe::fuzz
