#include "apps/node/roles.hpp"

#include <algorithm>

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/dht/node.hpp"
#include "messages/type_ids.hpp"
#include "runtime/logging.hpp"

namespace dmoe {

namespace {

constexpr auto join_timeout = std::chrono::seconds(30);

}  // namespace

node_roles::node_roles(caf::actor_system& system, const node_config& cfg)
  : system_(system), cfg_(cfg), log_(log::get(cfg.node.name + "/node")) {
}

bool node_roles::has_role(const std::string& role) const {
  const auto& roles = cfg_.node.roles;
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

caf::error node_roles::start() {
  if (has_role("dht"))
    if (auto err = start_dht())
      return err;
  for (const auto& role : cfg_.node.roles)
    if (role != "dht")
      return make_error(errc::invalid_argument, "role '" + role + "' is not available yet");
  return caf::none;
}

caf::error node_roles::start_dht() {
  dht::node_setup setup;
  setup.name = cfg_.node.name + "/dht";
  setup.options = cfg_.dht;
  setup.limits = cfg_.limits.wire();
  dht_ = dht::spawn_node(system_, std::move(setup));
  auto port = system_.middleman().publish(dht_, cfg_.node.port, cfg_.node.host.c_str(), true);
  if (!port)
    return make_error(errc::unavailable, "cannot listen on " + cfg_.node.host + ":"
                                           + std::to_string(cfg_.node.port) + ": "
                                           + system_.render(port.error()));
  port_ = *port;
  auto endpoint = cfg_.node.host + ":" + std::to_string(port_);
  log_->info("DHT node listening on {}", endpoint);
  caf::scoped_actor self{system_};
  caf::error result;
  self->request(dht_, join_timeout, dht::dht_start_atom::value, endpoint)
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
  if (dht_) {
    if (port_ != 0)
      system_.middleman().unpublish(dht_, port_);
    caf::anon_send_exit(dht_, caf::exit_reason::user_shutdown);
    dht_ = nullptr;
  }
}

}  // namespace dmoe
