// One dmoe-shell connection: the node's published actor (its gateway, or an inspector) and the
// requests sent to it, each with a finite timeout.
#pragma once

#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/inspector/inspector.hpp"

namespace dmoe::shell {

class session {
public:
  /// Connects to the actor published at `host_port` ("host:port").
  static caf::expected<session> connect(caf::actor_system& system, const std::string& host_port,
                                        caf::timespan timeout);

  /// Sends `(inspect_atom, line)` and waits for the text, or the node's error.
  caf::expected<std::string> run(const std::string& line);

  const std::string& address() const {
    return address_;
  }

private:
  session(caf::actor_system& system, inspector_actor node, std::string address,
          caf::timespan timeout);

  caf::actor_system* system_;
  inspector_actor node_;  // a node's gateway, or an inspector published on its own
  std::string address_;
  caf::timespan timeout_;
};

}  // namespace dmoe::shell
