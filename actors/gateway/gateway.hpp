// The gateway: the one actor a node publishes on its port. Peers, routers and dmoe-shell reach
// every role of the node through it; it forwards each request to the role's actor with
// `delegate`, so the role replies straight to the requester and sees the requester as sender.
// Expert calls in parts (messages/parts.hpp) are the exception: the gateway puts the request
// together, asks the server and sends a big reply back in parts.
//
// Its whole protocol:
//   Forwarded (from anywhere):
//     (dht_rpc_atom, payload)                              -> dht        (actors/dht/node.hpp)
//     (dht_store_atom, key, subkey, value, double)         -> dht
//     (dht_get_atom, key)                                  -> dht
//     (dht_info_atom)                                      -> dht
//     (expert_rpc_atom, payload)                           -> server     (actors/server/server.hpp)
//     (inspect_atom, std::string command)                  -> inspector  (actors/inspector)
//     A request for a role the node does not run gets an error reply naming the role.
//   Expert calls in parts (from remote requesters):
//     (wire_part_atom, uint64 transfer, payload part)      -> nothing; kept for the transfer
//     (expert_rpc_atom, uint64 transfer, uint64 total_bytes, payload last)
//                                                          -> (uint64 total_bytes, payload last)
//       the request is the transfer's parts plus `last` (exactly total_bytes, at most
//       limits.max_message_bytes), passed to the server as (expert_rpc_atom, payload,
//       node_id requester's node) so that the server's per-peer limits charge the requester's
//       node, not the gateway; the server's reply comes back as (wire_part_atom, transfer,
//       part) messages to the requester followed by this answer with the reply's last part.
//       Parts stalled for part_timeout are dropped.
//   Local only (a remote sender gets an error; routes cannot be changed from the network):
//     (gateway_route_atom, std::string role, caf::actor)   -> bool
//       role is "dht", "server" or "inspector"; a null actor removes the route.
//   Timer to itself: (gateway_sweep_atom) drops stalled transfers.
#pragma once

#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>

#include "messages/limits.hpp"

namespace dmoe {

using gateway_route_atom = caf::atom_constant<caf::atom("gw_route")>;
using gateway_sweep_atom = caf::atom_constant<caf::atom("gw_sweep")>;

/// A transfer whose last part is older than this is dropped.
constexpr auto part_timeout = std::chrono::seconds(60);
/// How long the gateway waits for the server's answer to a call in parts.
constexpr auto role_reply_timeout = std::chrono::minutes(5);

struct gateway_setup {
  std::string name = "gateway";  // logger name
  wire_limits limits;            // max_message_bytes and part_bytes apply
};

caf::actor spawn_gateway(caf::actor_system& system, gateway_setup setup);

}  // namespace dmoe
