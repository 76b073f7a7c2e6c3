// A small API over a DHT node for user code and tests (blocking; not for use inside actors,
// which send the messages documented in node.hpp themselves).
#pragma once

#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/dht/node.hpp"

namespace dmoe::dht {

constexpr caf::timespan default_client_timeout = std::chrono::seconds(10);

struct op_stats {
  uint32_t rounds = 0;    // sequential request rounds of the lookup
  uint32_t requests = 0;  // requests the lookup sent
};

struct store_outcome {
  uint32_t replicas = 0;  // nodes that hold the item now
  op_stats stats;
};

struct get_outcome {
  std::vector<item> items;  // newest unexpired item per sub-key; empty when none
  op_stats stats;
};

caf::expected<store_outcome> store(caf::actor_system& system, const access_actor& node,
                                   const std::string& key, const std::string& subkey,
                                   const std::string& value, double expiration,
                                   caf::timespan timeout = default_client_timeout);

/// Stores an item owned by `node` (an actor of this process): sub-key "LABEL#<its key>",
/// signed by it (node.hpp, dht_declare_atom).
caf::expected<store_outcome> declare(caf::actor_system& system, const node_actor& node,
                                     const std::string& key, const std::string& label,
                                     const std::string& value, double expiration,
                                     caf::timespan timeout = default_client_timeout);

caf::expected<get_outcome> get(caf::actor_system& system, const access_actor& node,
                               const std::string& key,
                               caf::timespan timeout = default_client_timeout);

/// The children the expert declarations under grid prefix `key` name (messages/declaration.hpp),
/// each once, over every declaring server; 0 when the lookup fails. Signatures are not checked:
/// for tools and tests that watch their own swarm.
size_t declared_children(caf::actor_system& system, const access_actor& node,
                         const std::string& key, caf::timespan timeout = default_client_timeout);

/// The item stored under `subkey`, if any.
const item* find_subkey(const std::vector<item>& items, const std::string& subkey);

/// The first owned item whose sub-key has the label `label` ("LABEL#OWNER"), if any.
const item* find_label(const std::vector<item>& items, const std::string& label);

}  // namespace dmoe::dht
