// The member side's requests to a round's averagers, run concurrently on an event-based actor
// (member.cpp): a dead or slow peer holds up only its own calls.
#pragma once

#include <chrono>
#include <functional>
#include <set>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "messages/average_codec.hpp"
#include "messages/limits.hpp"

namespace dmoe::averaging {

/// Requests in flight to one peer.
constexpr size_t default_window = 8;

/// A request to one averager and where its reply goes.
struct call {
  caf::actor to;
  avg::request req;
  std::function<caf::error(avg::reply&)> take;
};

struct traffic {
  uint64_t sent = 0;
  uint64_t received = 0;
};

/// Runs `calls` and returns the first failure once every call has ended: each target gets at
/// most `in_flight` calls at once; a call refused with not_found (its round not begun there
/// yet) is sent again until `deadline`; a target that fails once gets no more calls and is
/// added to `failed`. Bytes that leave the node are counted in `t`.
caf::error run_calls(caf::actor_system& system, std::vector<call>& calls, caf::timespan timeout,
                     std::chrono::steady_clock::time_point deadline, const wire_limits& limits,
                     traffic& t, std::set<caf::actor_addr>& failed,
                     size_t in_flight = default_window);

}  // namespace dmoe::averaging
