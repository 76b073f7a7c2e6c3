#include "actors/gateway/parts_caller.hpp"

#include "messages/type_ids.hpp"
#include "runtime/wire_guard.hpp"

namespace dmoe {

namespace {

part_limits limits_of(const wire_limits& limits) {
  part_limits out;
  out.max_transfer_bytes = limits.max_message_bytes;
  out.max_total_bytes = 2 * limits.max_message_bytes;
  return out;
}

}  // namespace

parts_caller::parts_caller(const wire_limits& limits)
  : limits_(limits), parts_(limits_of(limits)) {
}

void parts_caller::call(caf::event_based_actor* self, const caf::actor& peer, uint64_t id,
                        payload request, caf::timespan timeout, reply_handler done) {
  if (!open_to_parts_) {
    // The reply's parts are messages, not replies: the wire guard drops them unless let in.
    accept_from_network(self->system(), self->id());
    open_to_parts_ = true;
  }
  auto total = static_cast<uint64_t>(request.bytes.size());
  auto pieces = split_payload(std::move(request), limits_.part_bytes);
  for (size_t i = 0; i + 1 < pieces.size(); ++i)
    self->send(peer, wire_part_atom::value, id, std::move(pieces[i]));
  in_flight_[id] = peer.address();
  auto key = transfer_key{peer.address(), id};
  self->request(peer, timeout, expert_rpc_atom::value, id, total, std::move(pieces.back()))
    .then(
      [this, id, key, done](uint64_t reply_total, payload& last) {
        in_flight_.erase(id);
        done(parts_.finish(key, reply_total, std::move(last)));
      },
      [this, id, key, done](caf::error& err) {
        in_flight_.erase(id);
        parts_.drop(key);
        done(std::move(err));
      });
}

void parts_caller::part_arrived(const caf::actor_addr& sender, uint64_t id, payload&& part,
                                double now) {
  auto i = in_flight_.find(id);
  if (i == in_flight_.end() || i->second != sender)
    return;  // not a reply part of a call in flight from the gateway it went to
  if (auto err = parts_.add(transfer_key{sender, id}, std::move(part), now))
    refusal_ = std::move(err);
}

void parts_caller::forget(uint64_t id) {
  auto i = in_flight_.find(id);
  if (i == in_flight_.end())
    return;
  parts_.drop(transfer_key{i->second, id});
  in_flight_.erase(i);
}

caf::error parts_caller::take_refusal() {
  return std::exchange(refusal_, caf::error{});
}

}  // namespace dmoe
