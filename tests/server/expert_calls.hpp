// Blocking expert calls for the server suites, to a server_actor, a node's gateway or an
// untyped handle: a failed request becomes the reply's caf::error.
#pragma once

#include <chrono>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "messages/errors.hpp"
#include "messages/type_ids.hpp"
#include "runtime/expert_codec.hpp"

namespace dmoe::test {

constexpr auto call_timeout = std::chrono::seconds(20);

/// Sends `request` as it is (possibly malformed) and decodes the reply.
template <class Handle>
expert_reply call_raw(caf::actor_system& sys, const Handle& server, payload request,
                      caf::timespan timeout = call_timeout) {
  caf::scoped_actor self{sys};
  expert_reply out = make_error(errc::timeout, "no reply");
  self->request(server, timeout, expert_rpc_atom::value, std::move(request))
    .receive(
      [&](payload& reply) {
        auto decoded = decode_expert_reply(std::move(reply));
        out = decoded ? std::move(*decoded) : expert_reply{decoded.error()};
      },
      [&](caf::error& err) { out = err; });
  return out;
}

/// Encodes one call, sends it and decodes the reply.
template <class Handle>
expert_reply call(caf::actor_system& sys, const Handle& server, const expert_call& c,
                  caf::timespan timeout = call_timeout) {
  return call_raw(sys, server, encode(c), timeout);
}

}  // namespace dmoe::test
