#include "actors/gateway/gateway.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/dht/node.hpp"
#include "actors/guard/control_guard.hpp"
#include "messages/errors.hpp"
#include "messages/parts.hpp"
#include "messages/type_ids.hpp"
#include "runtime/logging.hpp"
#include "runtime/node_dial.hpp"
#include "runtime/warning_throttle.hpp"

namespace dmoe {

namespace {

constexpr auto sweep_period = std::chrono::seconds(10);

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct gateway_state {
  std::shared_ptr<spdlog::logger> log;
  wire_limits limits;
  part_buffer parts;
  size_t evictions_logged = 0;  // parts.evicted() when last logged
  warning_throttle warnings;    // about what peers repeat at will
  dht::node_actor dht;
  server_actor server;
  inspector_actor inspector;
  average_peer_actor averager;
};

using gateway_impl = gateway_actor::extend<caf::reacts_to<gateway_sweep_atom>>;
using gateway_stateful = gateway_impl::stateful_base<gateway_state>;

/// caf::result<Ts...> for a delegation's caf::delegated<Ts...>: a forward either delegates or
/// answers with an error.
template <class Delegated>
struct forward_result;

template <class... Ts>
struct forward_result<caf::delegated<Ts...>> {
  using type = caf::result<Ts...>;
};

/// Sets (or with a null handle removes) a role's route, for local senders only.
template <class Handle>
caf::result<bool> set_route(gateway_stateful* self, Handle& slot, const char* role,
                            Handle target) {
  auto sender = self->current_sender();
  if (!sender || sender->node() != self->node())
    return make_error(errc::invalid_argument, "gateway routes can only be set locally");
  slot = std::move(target);
  self->state.log->debug("route {} -> {}", role, slot ? "set" : "removed");
  return true;
}

caf::error no_role(const char* role) {
  return make_error(errc::unavailable, std::string{"this node runs no "} + role + " role");
}

/// Sends `reply` to `requester` in parts and answers `rp` with its size and last part.
void answer_in_parts(gateway_stateful* self, caf::typed_response_promise<uint64_t, payload> rp,
                     const parts_receiver_actor& requester, uint64_t transfer, payload reply) {
  auto total = static_cast<uint64_t>(reply.bytes.size());
  auto parts = split_payload(std::move(reply), self->state.limits.part_bytes);
  for (size_t i = 0; i + 1 < parts.size(); ++i)
    self->send(requester, wire_part_atom::value, transfer, std::move(parts[i]));
  rp.deliver(total, std::move(parts.back()));
}

gateway_impl::behavior_type gateway(gateway_stateful* self, gateway_setup setup) {
  auto& st = self->state;
  st.log = log::get(setup.name);
  guard_control(self, st.log);
  st.limits = setup.limits;
  part_limits bounds;
  bounds.max_transfer_bytes = setup.limits.max_message_bytes;
  bounds.max_total_bytes = 2 * setup.limits.max_message_bytes;
  st.parts = part_buffer{bounds};
  self->delayed_send(self, sweep_period, gateway_sweep_atom::value);
  // Forwards the current request to `target`, which answers the requester, or answers with an
  // error when the role is absent.
  auto forward = [self](const auto& target, const char* role, auto&&... xs) ->
    typename forward_result<decltype(self->delegate(target, std::forward<decltype(xs)>(xs)...))>::type {
    if (!target)
      return no_role(role);
    return self->delegate(target, std::forward<decltype(xs)>(xs)...);
  };
  return {
    [=](dht_rpc_atom a, payload& p) { return forward(self->state.dht, "dht", a, std::move(p)); },
    [=](dht::dht_store_atom a, std::string& key, std::string& subkey, std::string& value,
        double expiration) {
      return forward(self->state.dht, "dht", a, std::move(key), std::move(subkey),
                     std::move(value), expiration);
    },
    [=](dht::dht_get_atom a, std::string& key) {
      return forward(self->state.dht, "dht", a, std::move(key));
    },
    [=](dht::dht_info_atom a) { return forward(self->state.dht, "dht", a); },
    [=](expert_rpc_atom a, payload& p) {
      return forward(self->state.server, "server", a, std::move(p));
    },
    [=](inspect_atom a, std::string& command) {
      return forward(self->state.inspector, "inspector", a, std::move(command));
    },
    [=](average_rpc_atom a, payload& p) {
      return forward(self->state.averager, "averager", a, std::move(p));
    },
    [=](wire_part_atom, uint64_t transfer, payload& part) {
      auto& st = self->state;
      auto key = transfer_key{caf::actor_cast<caf::actor_addr>(self->current_sender()), transfer};
      if (auto err = st.parts.add(key, std::move(part), seconds_now()))
        st.warnings.warn(*st.log, "part refused", message_of(err),
                         describe(err) + " from node " + to_string(key.sender.node()));
      if (st.parts.evicted() != st.evictions_logged) {
        st.evictions_logged = st.parts.evicted();
        st.warnings.warn(*st.log, "part evicted", {},
                         "dropped a transfer in parts of a node holding the most to make room for "
                         "node " + to_string(key.sender.node()));
      }
    },
    [=](expert_rpc_atom a, uint64_t transfer, uint64_t total,
        payload& last) -> caf::result<uint64_t, payload> {
      auto& st = self->state;
      // A requester in parts takes the reply's parts (parts_caller.hpp); one that does not
      // gets messages it refuses.
      auto requester = caf::actor_cast<parts_receiver_actor>(self->current_sender());
      auto whole = st.parts.finish(transfer_key{requester.address(), transfer}, total,
                                   std::move(last));
      if (!whole)
        return whole.error();
      if (!st.server)
        return no_role("server");
      auto rp = self->make_response_promise<uint64_t, payload>();
      self->request(st.server, role_reply_timeout, a, std::move(*whole), requester.node())
        .then(
          [=](payload& reply) mutable {
            answer_in_parts(self, rp, requester, transfer, std::move(reply));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](gateway_sweep_atom) {
      auto before = seconds_now() - std::chrono::duration<double>(part_timeout).count();
      if (auto dropped = self->state.parts.expire(before); dropped > 0)
        self->state.log->warn("dropped {} stalled transfers in parts", dropped);
      self->delayed_send(self, sweep_period, gateway_sweep_atom::value);
    },
    [=](gateway_route_atom, dht::node_actor& target) {
      return set_route(self, self->state.dht, "dht", std::move(target));
    },
    [=](gateway_route_atom, server_actor& target) {
      return set_route(self, self->state.server, "server", std::move(target));
    },
    [=](gateway_route_atom, inspector_actor& target) {
      return set_route(self, self->state.inspector, "inspector", std::move(target));
    },
    [=](gateway_route_atom, average_peer_actor& target) {
      return set_route(self, self->state.averager, "averager", std::move(target));
    },
  };
}

}  // namespace

caf::expected<gateway_actor> dial_gateway(caf::actor_system& system, const std::string& host,
                                          uint16_t port, std::chrono::milliseconds timeout) {
  return dial_as<gateway_actor>(system, host, port, timeout);
}

gateway_actor spawn_gateway(caf::actor_system& system, gateway_setup setup) {
  return system.spawn(gateway, std::move(setup));
}

}  // namespace dmoe
