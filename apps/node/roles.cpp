#include "apps/node/roles.hpp"

#include <algorithm>

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/dht/node.hpp"
#include "actors/gateway/gateway.hpp"
#include "messages/type_ids.hpp"
#include "runtime/logging.hpp"

namespace dmoe {

namespace {

constexpr auto join_timeout = std::chrono::seconds(30);
constexpr auto local_timeout = std::chrono::seconds(10);
const std::vector<std::string> known_roles = {"dht"};

}  // namespace

node_roles::node_roles(caf::actor_system& system, const node_config& cfg)
  : system_(system), cfg_(cfg), log_(log::get(cfg.node.name + "/node")) {
}

bool node_roles::has_role(const std::string& role) const {
  const auto& roles = cfg_.node.roles;
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

caf::error node_roles::start() {
  for (const auto& role : cfg_.node.roles)
    if (std::find(known_roles.begin(), known_roles.end(), role) == known_roles.end())
      return make_error(errc::invalid_argument, "role '" + role + "' is not available yet");
  if (auto err = listen())
    return err;
  if (has_role("dht"))
    if (auto err = start_dht())
      return err;
  return caf::none;
}

caf::error node_roles::listen() {
  gateway_ = spawn_gateway(system_, cfg_.node.name + "/gateway");
  auto port = system_.middleman().publish(gateway_, cfg_.node.port, cfg_.node.host.c_str(), true);
  if (!port)
    return make_error(errc::unavailable, "cannot listen on " + cfg_.node.host + ":"
                                           + std::to_string(cfg_.node.port) + ": "
                                           + system_.render(port.error()));
  port_ = *port;
  endpoint_ = cfg_.node.host + ":" + std::to_string(port_);
  log_->info("listening on {}", endpoint_);
  return caf::none;
}

caf::error node_roles::route(const std::string& role, const caf::actor& target) {
  caf::scoped_actor self{system_};
  caf::error result;
  self->request(gateway_, local_timeout, gateway_route_atom::value, role, target)
    .receive([](bool) {}, [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::error node_roles::start_dht() {
  dht::node_setup setup;
  setup.name = cfg_.node.name + "/dht";
  setup.options = cfg_.dht;
  setup.limits = cfg_.limits.wire();
  dht_ = dht::spawn_node(system_, std::move(setup));
  if (auto err = route("dht", dht_))
    return err;
  caf::scoped_actor self{system_};
  caf::error result;
  self->request(dht_, join_timeout, dht::dht_start_atom::value, endpoint_)
    .receive(
      [&](uint32_t contacts) {
        if (contacts == 0 && !cfg_.dht.bootstrap.empty())
          log_->warn("no bootstrap peer reachable yet; retrying in the background");
        else
          log_->info("DHT joined with {} contacts", contacts);
      },
      [&](caf::error& err) { result = std::move(err); });
  return result;
}

void node_roles::stop() {
  if (gateway_) {
    if (port_ != 0)
      system_.middleman().unpublish(gateway_, port_);
    caf::anon_send_exit(gateway_, caf::exit_reason::user_shutdown);
    gateway_ = nullptr;
  }
  if (dht_) {
    caf::anon_send_exit(dht_, caf::exit_reason::user_shutdown);
    dht_ = nullptr;
  }
}

}  // namespace dmoe
