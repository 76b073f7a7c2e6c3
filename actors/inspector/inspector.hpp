// The inspector actor: answers dmoe-shell's questions about this node by asking the node's role
// actors for their stats and the DHT for declarations, and renders the answers as text.
//
// Its whole protocol:
//   From dmoe-shell (through the node's gateway, or directly), local or remote:
//     (inspect_atom, std::string command_line)       -> std::string   text for people
//       An unknown command, bad arguments, a missing role or a refused control command is a
//       caf::error (dmoe category, clear message); the inspector keeps serving.
//   Commands (words split as by a shell: quotes group, backslash escapes):
//     help                         the commands
//     nodes                        this node and its DHT contacts (DHT stats)
//     experts [NAME...]            id, server, load, latency, failures: merged from the server's
//                                  and the router's stats; without a router, the experts
//                                  declared in the DHT under grid NAME (default: setup's grid)
//     dht get KEY                  the newest unexpired items under KEY
//     stats                        every role's stats
//     trainers                     the trainer's progress (step, loss, accuracy, ...)
//     dht store KEY SUBKEY VALUE TTL_SECONDS
//                                  control: only when options.allow_control
//   A peer's DHT lookups and stores (a walk's each) are limited per second (setup's
//   peer_lookup_rate): past it `dht get` and `dht store` are refused (errc::overloaded) and a
//   walk stops with a note.
//   What it sends (each a request with setup.request_timeout and an error handler):
//     to every role: (stats_atom) -> its stats struct: dht::node_stats, server_stats,
//       moe::router_stats, trainer_metrics (each role's *_stats.hpp / trainer_metrics.hpp);
//       `stats` renders them through their field names (runtime/stats_fields.hpp)
//     to the DHT: (dht_get_atom, key), (dht_store_atom, key, subkey, value, expiration)
#pragma once

#include <functional>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/dht/node.hpp"
#include "actors/moe/router_stats.hpp"
#include "actors/server/server_stats.hpp"
#include "actors/trainer/trainer_metrics.hpp"
#include "messages/type_ids.hpp"
#include "runtime/options.hpp"

namespace dmoe {

/// The inspector's protocol (above).
using inspector_actor = caf::typed_actor<caf::replies_to<inspect_atom, std::string>::with<std::string>>;

constexpr caf::timespan default_inspector_timeout = std::chrono::seconds(5);

struct inspector_setup {
  std::string name = "inspector";  // logger name
  inspector_options options;
  std::string node_name, endpoint;
  dht::node_actor dht;                      // may be null, as may the others
  server_stats_actor server;                // only their stats are asked for
  moe::router_stats_actor router;
  trainer_stats_actor trainer;
  std::string default_grid = "ffn";         // `experts` without NAME walks this grid
  caf::timespan request_timeout = default_inspector_timeout;  // per role request
  std::function<double()> clock;            // for DHT expirations; wall clock if empty
  // DHT lookups and stores one peer may have this inspector run for it (`experts` walks,
  // `dht get`, `dht store`), per second and at once: dht.peer-access-rate and -burst; rate 0:
  // no limit. This process's own callers are not limited.
  double peer_lookup_rate = 0;
  double peer_lookup_burst = 0;
};

inspector_actor spawn_inspector(caf::actor_system& system, inspector_setup setup);

}  // namespace dmoe
