// Starts and stops the roles a node's config asks for (dht, server, trainer, inspector). One
// gateway actor is published on the node's port and forwards each protocol to its role.
#pragma once

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <spdlog/logger.h>

#include "runtime/node_config.hpp"

namespace dmoe {

class node_roles {
public:
  node_roles(caf::actor_system& system, const node_config& cfg);

  caf::error start();

  /// Stops declaring, writes checkpoints, unpublishes and stops every role actor, so the actor
  /// system can shut down.
  void stop();

  /// "host:port" the node listens on (valid after start()).
  const std::string& endpoint() const {
    return endpoint_;
  }

private:
  bool has_role(const std::string& role) const;
  caf::error listen();
  caf::error route(const std::string& role, const caf::actor& target);
  caf::error start_dht();

  caf::actor_system& system_;
  const node_config& cfg_;
  std::shared_ptr<spdlog::logger> log_;
  caf::actor gateway_;
  caf::actor dht_;
  uint16_t port_ = 0;
  std::string endpoint_;
};

}  // namespace dmoe
