#include "apps/node/roles.hpp"

#include <algorithm>
#include <map>

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/averager/averager.hpp"
#include "actors/averager/member.hpp"
#include "actors/dht/node.hpp"
#include "actors/gateway/gateway.hpp"
#include "actors/guard/control_guard.hpp"
#include "actors/inspector/inspector.hpp"
#include "actors/moe/supervisor.hpp"
#include "actors/server/server.hpp"
#include "actors/trainer/trainer.hpp"
#include "messages/type_ids.hpp"
#include "runtime/data/fashion_mnist.hpp"
#include "runtime/data/text_corpus.hpp"
#include "runtime/endpoint.hpp"
#include "runtime/logging.hpp"
#include "runtime/node_dial.hpp"
#include "runtime/wire_guard.hpp"

namespace dmoe {

namespace {

constexpr auto join_timeout = std::chrono::seconds(30);
constexpr auto local_timeout = std::chrono::seconds(10);
constexpr auto checkpoint_timeout = std::chrono::seconds(60);
constexpr auto dial_back_timeout = std::chrono::seconds(5);

}  // namespace

node_roles::node_roles(caf::actor_system& system, const node_config& cfg,
                       std::function<void()> on_trainer_done,
                       std::function<void(const std::string&)> on_role_failed)
  : system_(system),
    cfg_(cfg),
    log_(log::get(cfg.node.name + "/node")),
    on_trainer_done_(std::move(on_trainer_done)),
    on_role_failed_(std::move(on_role_failed)) {
}

bool node_roles::has_role(const std::string& role) const {
  const auto& roles = cfg_.node.roles;
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

caf::error node_roles::start() {
  // Fail at start, not minutes later, when the trainer's data is not there.
  if (has_role("trainer")) {
    auto missing = cfg_.trainer.task == task_kind::fashion_mnist
                     ? data::check_fashion_mnist(cfg_.trainer.data_dir)
                     : data::check_text_source(cfg_.trainer.text_file);
    if (missing)
      return missing;
  }
  if (auto err = listen())
    return err;
  // Order matters: the server declares through the DHT, the trainer's router looks experts up
  // in it, and the inspector reports on all of them.
  if (has_role("dht"))
    if (auto err = start_dht())
      return err;
  if (has_role("server"))
    if (auto err = start_server())
      return err;
  if (has_role("trainer"))
    if (auto err = start_trainer())
      return err;
  if (has_role("inspector"))
    if (auto err = start_inspector())
      return err;
  watch_roles();
  return caf::none;
}

std::vector<std::pair<std::string, caf::actor>> node_roles::running_roles() const {
  std::vector<std::pair<std::string, caf::actor>> out;
  auto add = [&out](const char* name, const auto& role) {
    if (role)
      out.emplace_back(name, caf::actor_cast<caf::actor>(role));
  };
  add("gateway", gateway_);
  add("dht", dht_);
  add("server", server_);
  add("router", router_);
  add("averager", averager_);
  add("trainer", trainer_);
  add("inspector", inspector_);
  return out;
}

void node_roles::watch_roles() {
  std::map<caf::actor_addr, std::string> watched;
  for (const auto& [name, role] : running_roles())
    watched.emplace(role.address(), name);
  watchdog_ = system_.spawn([watched, stopping = stopping_, log = log_,
                             failed = on_role_failed_](caf::event_based_actor* self) {
    for (const auto& entry : watched)
      self->monitor(caf::actor_cast<caf::actor>(entry.first));
    self->set_down_handler([=](caf::down_msg& msg) {
      if (*stopping || !genuine_down(self, msg, *log))
        return;
      auto i = watched.find(msg.source);
      auto why = "the " + (i == watched.end() ? std::string{"?"} : i->second)
                 + " actor stopped (" + describe(msg.reason) + ")";
      log->error("{}: this node can no longer serve", why);
      self->quit();
      if (failed)
        failed(why);
    });
    // Nothing to answer: the behavior only keeps the watchdog alive until stop().
    return caf::behavior{[](caf::ok_atom) {}};
  });
}

caf::error node_roles::listen() {
  gateway_setup gateway;
  gateway.name = cfg_.node.name + "/gateway";
  gateway.limits = cfg_.limits.wire();
  gateway_ = spawn_gateway(system_, std::move(gateway));
  wire_guard_options guard;
  guard.log_name = cfg_.node.name + "/wire";
  guard.max_frame_bytes = cfg_.limits.max_frame_bytes;
  guard.max_connections = cfg_.limits.max_connections;
  guard.max_connections_per_address = cfg_.limits.max_connections_per_address;
  guard.max_pending_frame_bytes = cfg_.limits.max_pending_frame_bytes;
  guard.max_unsent_bytes = cfg_.limits.max_unsent_bytes;
  guard.handshake_timeout = cfg_.limits.handshake_timeout;
  if (auto err = set_wire_guard_options(system_, guard, cfg_.tls))
    return err;
  auto tls = wire_tls(system_);
  auto port = publish_guarded(system_, gateway_, cfg_.node.port, cfg_.node.host, true);
  if (!port)
    return make_error(errc::unavailable, "cannot listen on " + cfg_.node.host + ":"
                                           + std::to_string(cfg_.node.port) + ": "
                                           + system_.render(port.error()));
  port_ = *port;
  auto advertised = advertised_endpoint(cfg_.node.host, cfg_.node.advertise, port_);
  if (!advertised)
    return advertised.error();
  endpoint_ = to_string(*advertised);
  log_->info("listening on {}:{}, advertised as {}", cfg_.node.host, port_, endpoint_);
  if (tls)
    log_->info("TLS: only members of the swarm CA '{}' connect; this node is '{}'", cfg_.tls.ca,
               tls->own_name());
  else if (cfg_.node.host.rfind("127.", 0) != 0 && cfg_.node.host != "localhost")
    log_->warn("listening on {} without TLS, an open swarm: anyone who reaches this port can call "
               "this node (the wire guard stops them from taking it down, not from using it); "
               "set [tls] to admit only the swarm's members",
               cfg_.node.host);
  if (cfg_.node.check_advertise)
    return check_dial_back(*advertised);
  return caf::none;
}

caf::error node_roles::check_dial_back(const dmoe::endpoint& advertised) {
  // Peers learn this node only by its advertised address, so a typo there (or a relay that is
  // not running) would leave it unreachable without any error.
  auto unreachable = [&](const std::string& why) {
    return make_error(errc::unavailable, "the advertised address '" + endpoint_
                                           + "' (node.advertise) does not lead back to this node: "
                                           + why
                                           + " (set node.check-advertise=false to skip this check)");
  };
  auto reached = dial_as<gateway_actor>(
    system_, advertised.host, advertised.port,
    std::chrono::duration_cast<std::chrono::milliseconds>(dial_back_timeout));
  caf::error result;
  if (!reached)
    result = unreachable(message_of(reached.error()));
  else if (reached->address() != gateway_.address())
    result = unreachable("another node answers there");
  if (!result)
    log_->debug("dialed {} and reached this node", endpoint_);
  return result;
}

template <class Handle>
caf::error node_roles::route(const Handle& target) {
  caf::scoped_actor self{system_};
  caf::error result;
  self->request(gateway_, local_timeout, gateway_route_atom::value, target)
    .receive([](bool) {}, [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::error node_roles::start_dht() {
  dht::node_setup setup;
  setup.name = cfg_.node.name + "/dht";
  setup.options = cfg_.dht;
  setup.limits = cfg_.limits.wire();
  dht_ = dht::spawn_node(system_, std::move(setup));
  if (auto err = route(dht_))
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

caf::error node_roles::start_server() {
  server_setup setup;
  setup.name = cfg_.node.name + "/server";
  setup.options = cfg_.server;
  setup.limits = cfg_.limits.wire();
  setup.dht = dht_;
  setup.endpoint = endpoint_;
  auto server = try_spawn_server(system_, std::move(setup));
  if (!server)
    return server.error();
  server_ = std::move(*server);
  return route(server_);
}

caf::error node_roles::start_trainer() {
  moe::router_setup router;
  router.name = cfg_.node.name + "/moe";
  router.options = cfg_.moe;
  router.limits = cfg_.limits.wire();
  router.dht = dht_;
  // The trainer and the inspector hold the supervisor's handle; a crashed router is replaced.
  router_ = moe::spawn_supervised_router(system_, std::move(router));
  trainer_setup setup;
  setup.name = cfg_.node.name + "/trainer";
  setup.options = cfg_.trainer;
  setup.moe = cfg_.moe;
  setup.router = router_;
  if (cfg_.averaging.every > 0) {
    auto id = new_member_id();
    auto own_endpoint = cfg_.averaging.client_mode ? std::string{} : endpoint_;
    averager_setup averaging;
    averaging.name = cfg_.node.name + "/averager";
    averaging.options = cfg_.averaging;
    averaging.limits = cfg_.limits.wire();
    averaging.dht = dht_;
    averaging.id = id;
    averaging.endpoint = own_endpoint;
    averager_ = spawn_averager(system_, std::move(averaging));
    if (auto err = route(caf::actor_cast<average_peer_actor>(averager_)))
      return err;
    setup.member.name = cfg_.node.name + "/averager";
    setup.member.options = cfg_.averaging;
    setup.member.limits = cfg_.limits.wire();
    setup.member.averager = averager_;
    setup.member.dht = dht_;
    setup.member.id = id;
    setup.member.endpoint = own_endpoint;
  }
  trainer_ = spawn_trainer(system_, std::move(setup), [this](const trainer_metrics& m) {
    trainer_failed_ = m.state != "done";
    if (on_trainer_done_)
      on_trainer_done_();
  });
  return caf::none;
}

caf::error node_roles::start_inspector() {
  inspector_setup setup;
  setup.name = cfg_.node.name + "/inspector";
  setup.options = cfg_.inspector;
  setup.node_name = cfg_.node.name;
  setup.endpoint = endpoint_;
  setup.dht = dht_;
  setup.server = server_;
  setup.router = router_;
  setup.trainer = trainer_;
  setup.default_grid = cfg_.moe.expert_prefix;
  setup.peer_lookup_rate = cfg_.dht.peer_access_rate;
  setup.peer_lookup_burst = cfg_.dht.peer_access_burst;
  inspector_ = spawn_inspector(system_, std::move(setup));
  return route(inspector_);
}

void node_roles::stop_server() {
  caf::scoped_actor self{system_};
  self->request(server_, checkpoint_timeout, server_stop_atom::value)
    .receive([&](uint32_t saved) { log_->info("server stopped; {} checkpoints written", saved); },
             [&](caf::error& err) { log_->error("server did not stop cleanly: {}", describe(err)); });
}

void node_roles::stop() {
  *stopping_ = true;
  if (watchdog_) {
    caf::anon_send_exit(watchdog_, caf::exit_reason::user_shutdown);
    watchdog_ = nullptr;
  }
  if (gateway_) {
    if (port_ != 0)
      system_.middleman().unpublish(gateway_, port_);
    caf::anon_send_exit(gateway_, caf::exit_reason::user_shutdown);
    gateway_ = nullptr;
  }
  if (server_)
    stop_server();
  auto stop_role = [](auto& role) {
    if (role)
      caf::anon_send_exit(role, caf::exit_reason::user_shutdown);
    role = nullptr;
  };
  stop_role(inspector_);
  stop_role(trainer_);
  stop_role(averager_);
  stop_role(router_);
  stop_role(server_);
  stop_role(dht_);
}

}  // namespace dmoe
