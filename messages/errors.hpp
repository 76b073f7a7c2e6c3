// dmoe's error values: a code (shared with the wire's ErrorCode) and a message for a person.
// They travel inside caf::error (category "dmoe") so handlers can reply with them directly.
#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>

#include "messages/schema/error.capnp.h"

namespace dmoe {

enum class errc : uint8_t {
  internal = 1,
  malformed,
  invalid_argument,
  limit_exceeded,
  unknown_expert,
  shape_mismatch,
  dtype_mismatch,
  not_found,
  expired,
  timeout,
  unavailable,
  non_finite,
  forbidden,
  overloaded,         // a per-peer limit of a server: busy now, another replica may answer
  expert_overloaded,  // a per-peer limit of one expert (its update budget, its queue): the
                      // server's other experts still serve this peer
};

const char* to_string(errc code);

/// The error category atom under which dmoe's codes live inside caf::error.
caf::atom_value error_category();

caf::error make_error(errc code, std::string message);

/// The dmoe code of `err`; CAF's own errors (timeouts, unreachable peers) are mapped onto the
/// nearest dmoe code, anything else is `internal`.
errc code_of(const caf::error& err);

/// A one-line description of any error, dmoe's or CAF's, for logs and replies.
std::string describe(const caf::error& err);

/// The message alone (no code) of a dmoe error, for wrapping it in another; describe() else.
std::string message_of(const caf::error& err);

void write_error(wire::ErrorReply::Builder out, const caf::error& err);
caf::error read_error(wire::ErrorReply::Reader in);

}  // namespace dmoe
