// A number from a node's stats, as dmoe-shell shows them (the inspector's `stats` view).
#pragma once

#include <chrono>
#include <regex>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/inspector/inspector.hpp"
#include "messages/type_ids.hpp"

namespace dmoe::test {

/// The stat `name` of the node whose gateway is `gateway`; -1 when it cannot be read.
inline int64_t node_stat(caf::actor_system& system, const caf::actor& gateway,
                         const std::string& name) {
  caf::scoped_actor self{system};
  std::string text;
  self->request(gateway, std::chrono::seconds(10), inspect_atom::value, std::string{"stats"})
    .receive([&](std::string& out) { text = std::move(out); }, [](caf::error&) {});
  std::smatch m;
  if (!std::regex_search(text, m, std::regex{"\\b" + name + ": ([0-9]+)"}))
    return -1;
  return std::stoll(m[1].str());
}

}  // namespace dmoe::test
