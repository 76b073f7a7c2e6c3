// The inspector's answers as text: pure functions from role stats (caf::settings) and DHT items
// to what dmoe-shell prints.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actors/inspector/settings_text.hpp"
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

/// Rows of a server's stats {"endpoint", "experts": list of {"id", "requests", "samples",
/// "queue", "errors", ...}}; `fallback_endpoint` when the stats carry no endpoint.
std::vector<expert_row> server_rows(const dict& stats, const std::string& fallback_endpoint);

/// Rows of a router's stats {"experts": list of {"id", "server", "calls", "failures",
/// "latency_ms"}}.
std::vector<expert_row> router_rows(const dict& stats);

/// One row per (id, server), fields taken from every source that has them, sorted by id.
std::vector<expert_row> merge_rows(const std::vector<std::vector<expert_row>>& sources);

/// The expert table (id, server, load, latency, failures), then `notes` (one per line).
std::string experts_text(const std::vector<expert_row>& rows,
                         const std::vector<std::string>& notes);

/// This node and, when it has a DHT, its contacts from the DHT's stats.
std::string nodes_text(const std::string& name, const std::string& endpoint,
                       const dict* dht_stats);

/// A trainer's stats: progress figures first, then whatever else it reports.
std::string trainer_text(const dict& stats);

/// The items of one DHT key: sub-key, value, seconds until expiry.
std::string dht_items_text(const std::string& key, const std::vector<dht::item>& items,
                           double now, uint32_t rounds, uint32_t requests);

}  // namespace dmoe::inspector
