#include "actors/gateway/gateway.hpp"

#include <caf/event_based_actor.hpp>

#include "actors/dht/node.hpp"
#include "messages/errors.hpp"
#include "messages/type_ids.hpp"
#include "runtime/logging.hpp"

namespace dmoe {

namespace {

struct gateway_state {
  std::shared_ptr<spdlog::logger> log;
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

caf::behavior gateway(gateway_actor* self, std::string name) {
  self->state.log = log::get(name);
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

caf::actor spawn_gateway(caf::actor_system& system, std::string name) {
  return system.spawn(gateway, std::move(name));
}

}  // namespace dmoe
