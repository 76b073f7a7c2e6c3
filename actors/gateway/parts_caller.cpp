#include "actors/gateway/parts_caller.hpp"

#include "messages/errors.hpp"
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

std::pair<uint64_t, std::vector<payload>> parts_caller::start(caf::local_actor& self,
                                                              const gateway_actor& peer,
                                                              uint64_t id,
                                                              payload request) {
  if (!open_to_parts_) {
    // The reply's parts are messages, not replies: the wire guard drops them unless let in.
    accept_from_network(self.system(), self.id());
    open_to_parts_ = true;
  }
  in_flight_[id] = peer.address();
  auto total = static_cast<uint64_t>(request.bytes.size());
  return {total, split_payload(std::move(request), limits_.part_bytes)};
}

void parts_caller::finish(uint64_t id, uint64_t reply_total, payload last,
                          const reply_handler& done) {
  auto i = in_flight_.find(id);
  if (i == in_flight_.end())
    return done(make_error(errc::unavailable, "reply to a call no longer in flight"));
  auto key = transfer_key{i->second, id};
  in_flight_.erase(i);
  done(parts_.finish(key, reply_total, std::move(last)));
}

void parts_caller::fail(uint64_t id, caf::error err, const reply_handler& done) {
  forget(id);
  done(std::move(err));
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
