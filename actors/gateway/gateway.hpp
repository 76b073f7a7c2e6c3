// The gateway: the one actor a node publishes on its port. Peers, routers and dmoe-shell reach
// every role of the node through it; it forwards each request to the role's actor with
// `delegate`, so the role replies straight to the requester and sees the requester as sender.
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
//   Local only (a remote sender gets an error; routes cannot be changed from the network):
//     (gateway_route_atom, std::string role, caf::actor)   -> bool
//       role is "dht", "server" or "inspector"; a null actor removes the route.
#pragma once

#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>

namespace dmoe {

using gateway_route_atom = caf::atom_constant<caf::atom("gw_route")>;

caf::actor spawn_gateway(caf::actor_system& system, std::string name);

}  // namespace dmoe
