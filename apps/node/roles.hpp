// Starts and stops the roles a node's config asks for (dht, server, trainer, inspector). One
// gateway actor is published on the node's port, behind the wire guard (runtime/wire_guard),
// and forwards each protocol to its role. A watchdog monitors the gateway and every role actor:
// if one of them stops before stop(), the node cannot serve any more, and on_role_failed says
// which and why (dmoe-node then exits non-zero, for a service manager to restart it).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <spdlog/logger.h>

#include "actors/averager/averager.hpp"
#include "actors/gateway/gateway.hpp"
#include "actors/inspector/inspector.hpp"
#include "actors/moe/supervisor.hpp"
#include "actors/server/server.hpp"
#include "actors/trainer/trainer.hpp"
#include "runtime/endpoint.hpp"
#include "runtime/node_config.hpp"

namespace dmoe {

class node_roles {
public:
  /// `on_trainer_done` runs (on an actor thread) once the trainer role has finished training;
  /// `on_role_failed` (on an actor thread, at most once) when a role actor stopped by itself.
  node_roles(caf::actor_system& system, const node_config& cfg,
             std::function<void()> on_trainer_done = {},
             std::function<void(const std::string& why)> on_role_failed = {});

  caf::error start();

  /// Stops declaring, writes checkpoints, unpublishes and stops every role actor, so the actor
  /// system can shut down.
  void stop();

  /// "host:port" the node tells its peers: node.advertise, else node.host and the bound port
  /// (valid after start()).
  const std::string& endpoint() const {
    return endpoint_;
  }

  /// False when the trainer role ended in failure (for the exit code).
  bool trainer_succeeded() const {
    return !trainer_failed_;
  }

private:
  bool has_role(const std::string& role) const;
  caf::error listen();
  caf::error check_dial_back(const dmoe::endpoint& advertised);
  /// Routes the gateway's requests for that role to `target`.
  template <class Handle>
  caf::error route(const Handle& target);
  /// Every running role's actor, by name, as a dynamically typed handle (to watch and stop).
  std::vector<std::pair<std::string, caf::actor>> running_roles() const;
  caf::error start_dht();
  caf::error start_server();
  caf::error start_trainer();
  caf::error start_inspector();
  void stop_server();
  void watch_roles();

  caf::actor_system& system_;
  const node_config& cfg_;
  std::shared_ptr<spdlog::logger> log_;
  gateway_actor gateway_;
  std::function<void()> on_trainer_done_;
  std::function<void(const std::string&)> on_role_failed_;
  std::shared_ptr<std::atomic<bool>> stopping_ = std::make_shared<std::atomic<bool>>(false);
  caf::actor watchdog_;
  dht::node_actor dht_;
  server_actor server_;
  moe::supervisor_actor router_;
  averager_actor averager_;  // with the trainer when averaging.every > 0
  trainer_actor trainer_;
  inspector_actor inspector_;
  std::atomic<bool> trainer_failed_{false};
  uint16_t port_ = 0;
  std::string endpoint_;
};

}  // namespace dmoe
