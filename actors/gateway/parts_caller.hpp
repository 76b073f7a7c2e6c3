// The requester's half of calls in parts (messages/parts.hpp, answered by the gateway of
// gateway.hpp), for an actor that calls expert servers on other nodes: the router, benchmarks.
//
// call() sends the request as (wire_part_atom, id, part)... then (expert_rpc_atom, id, total
// bytes, last part); the owner's behavior hands every (wire_part_atom, id, part) it receives to
// part_arrived(), which keeps only parts of a call in flight that come from the gateway the call
// went to; the reply's final message completes the whole, checked against the announced size.
#pragma once

#include <functional>
#include <unordered_map>

#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/local_actor.hpp>

#include "actors/gateway/gateway.hpp"
#include "messages/limits.hpp"
#include "messages/parts.hpp"
#include "messages/type_ids.hpp"

namespace dmoe {

class parts_caller {
public:
  explicit parts_caller(const wire_limits& limits);

  using reply_handler = std::function<void(caf::expected<payload>)>;

  /// Calls `peer` (a gateway on another node) with `request` as call `id` (unique among this
  /// actor's calls in flight). `done` runs once, on `self` (the owner, typed or not), with the
  /// whole reply or an error.
  template <class Self>
  void call(Self* self, const gateway_actor& peer, uint64_t id, payload request,
            caf::timespan timeout, reply_handler done) {
    auto pieces = start(*self, peer, id, std::move(request));
    auto total = pieces.first;
    for (size_t i = 0; i + 1 < pieces.second.size(); ++i)
      self->send(peer, wire_part_atom::value, id, std::move(pieces.second[i]));
    self->request(peer, timeout, expert_rpc_atom::value, id, total,
                  std::move(pieces.second.back()))
      .then([this, id, done](uint64_t reply_total,
                             payload& last) { finish(id, reply_total, std::move(last), done); },
            [this, id, done](caf::error& err) { fail(id, std::move(err), done); });
  }

  /// One part of a reply; `sender` is the current sender of the part message.
  void part_arrived(const caf::actor_addr& sender, uint64_t id, payload&& part, double now);

  /// Drops what is kept for call `id` (it ended some other way, e.g. its server went down).
  void forget(uint64_t id);

  /// The error of the last part refused (logs want it); none when no part was refused.
  caf::error take_refusal();

private:
  /// Opens the owner to reply parts, notes the call and splits the request: (its size, parts).
  std::pair<uint64_t, std::vector<payload>> start(caf::local_actor& self, const gateway_actor& peer,
                                                  uint64_t id, payload request);
  void finish(uint64_t id, uint64_t reply_total, payload last, const reply_handler& done);
  void fail(uint64_t id, caf::error err, const reply_handler& done);

  wire_limits limits_;
  part_buffer parts_;
  std::unordered_map<uint64_t, caf::actor_addr> in_flight_;  // call id -> its gateway
  caf::error refusal_;
  bool open_to_parts_ = false;  // the owner accepts messages from the network
};

}  // namespace dmoe
