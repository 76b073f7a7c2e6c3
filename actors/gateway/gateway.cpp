#include "actors/gateway/gateway.hpp"

#include <caf/event_based_actor.hpp>

#include "actors/dht/node.hpp"
#include "actors/guard/control_guard.hpp"
#include "messages/errors.hpp"
#include "messages/parts.hpp"
#include "messages/type_ids.hpp"
#include "runtime/logging.hpp"

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
  caf::actor dht;
  caf::actor server;
  caf::actor inspector;

  caf::actor* route(const std::string& role) {
    if (role == "dht")
      return &dht;
    if (role == "server")
      return &server;
    if (role == "inspector")
      return &inspector;
    return nullptr;
  }
};

using gateway_actor = caf::stateful_actor<gateway_state>;

caf::error no_role(const char* role) {
  return make_error(errc::unavailable, std::string{"this node runs no "} + role + " role");
}

/// Sends `reply` to `requester` in parts and answers `rp` with its size and last part.
void answer_in_parts(gateway_actor* self, caf::typed_response_promise<uint64_t, payload> rp,
                     const caf::actor& requester, uint64_t transfer, payload reply) {
  auto total = static_cast<uint64_t>(reply.bytes.size());
  auto parts = split_payload(std::move(reply), self->state.limits.part_bytes);
  for (size_t i = 0; i + 1 < parts.size(); ++i)
    self->send(requester, wire_part_atom::value, transfer, std::move(parts[i]));
  rp.deliver(total, std::move(parts.back()));
}

caf::behavior gateway(gateway_actor* self, gateway_setup setup) {
  auto& st = self->state;
  st.log = log::get(setup.name);
  guard_control(self, st.log);
  st.limits = setup.limits;
  part_limits bounds;
  bounds.max_transfer_bytes = setup.limits.max_message_bytes;
  bounds.max_total_bytes = 2 * setup.limits.max_message_bytes;
  st.parts = part_buffer{bounds};
  self->delayed_send(self, sweep_period, gateway_sweep_atom::value);
  // Forwards the current request to `target`, or answers with an error when the role is absent.
  auto forward = [self](const caf::actor& target, const char* role,
                        auto&&... xs) -> caf::result<caf::message> {
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
    [=](wire_part_atom, uint64_t transfer, payload& part) {
      auto key = transfer_key{caf::actor_cast<caf::actor_addr>(self->current_sender()), transfer};
      if (auto err = self->state.parts.add(key, std::move(part), seconds_now()))
        self->state.log->warn("{}", describe(err));
    },
    [=](expert_rpc_atom a, uint64_t transfer, uint64_t total,
        payload& last) -> caf::result<uint64_t, payload> {
      auto& st = self->state;
      auto requester = caf::actor_cast<caf::actor>(self->current_sender());
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
    [=](gateway_route_atom, const std::string& role, caf::actor& target) -> caf::result<bool> {
      auto sender = self->current_sender();
      if (!sender || sender->node() != self->node())
        return make_error(errc::invalid_argument, "gateway routes can only be set locally");
      auto* slot = self->state.route(role);
      if (!slot)
        return make_error(errc::invalid_argument, "no such gateway route: '" + role + "'");
      *slot = std::move(target);
      self->state.log->debug("route {} -> {}", role, *slot ? "set" : "removed");
      return true;
    },
  };
}

}  // namespace

caf::actor spawn_gateway(caf::actor_system& system, gateway_setup setup) {
  return system.spawn(gateway, std::move(setup));
}

}  // namespace dmoe
