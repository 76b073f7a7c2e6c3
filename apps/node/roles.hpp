// Starts and stops the roles a node's config asks for (dht, and later server, trainer,
// inspector), publishing each role's actor on the node's listen address.
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

  /// Unpublishes and stops every role actor, so the actor system can shut down.
  void stop();

private:
  bool has_role(const std::string& role) const;
  caf::error start_dht();

  caf::actor_system& system_;
  const node_config& cfg_;
  std::shared_ptr<spdlog::logger> log_;
  caf::actor dht_;
  uint16_t port_ = 0;
};

}  // namespace dmoe
