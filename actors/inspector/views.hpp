// The inspector's answers as text: pure functions from role stats and DHT items to what
// dmoe-shell prints.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actors/inspector/settings_text.hpp"
#include "actors/dht/node_stats.hpp"
#include "actors/moe/router_stats.hpp"
#include "actors/server/server_stats.hpp"
#include "actors/trainer/trainer_metrics.hpp"
#include "messages/dht_codec.hpp"

namespace dmoe::inspector {

/// What the node knows about one expert on one server, from any of its sources.
struct expert_row {
  std::string id;
  std::string server;
  // From the server hosting the expert (when it is this node).
  std::optional<int64_t> requests, samples, queue, errors;
  // From this node's router (the trainer side).
  std::optional<int64_t> calls, failures;
  std::optional<double> latency_ms;
  bool declared = false;  // found declared in the DHT
};

/// Rows of a server's experts; `fallback_endpoint` when the stats carry no endpoint.
std::vector<expert_row> server_rows(const server_stats& stats,
                                    const std::string& fallback_endpoint);

/// Rows of the experts a router has called.
std::vector<expert_row> router_rows(const moe::router_stats& stats);

/// One row per (id, server), fields taken from every source that has them, sorted by id.
std::vector<expert_row> merge_rows(const std::vector<std::vector<expert_row>>& sources);

/// The expert table (id, server, load, latency, failures), then `notes` (one per line).
std::string experts_text(const std::vector<expert_row>& rows,
                         const std::vector<std::string>& notes);

/// This node and, when it has a DHT, its contacts from the DHT's stats.
std::string nodes_text(const std::string& name, const std::string& endpoint,
                       const dht::node_stats* dht_stats);

/// A trainer's progress: the main figures first, then every other field.
std::string trainer_text(const trainer_metrics& stats);

/// The items of one DHT key: sub-key, value, seconds until expiry.
std::string dht_items_text(const std::string& key, const std::vector<dht::item>& items,
                           double now, uint32_t rounds, uint32_t requests);

}  // namespace dmoe::inspector
