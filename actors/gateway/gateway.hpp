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
//     (average_rpc_atom, payload)                          -> averager   (actors/averager)
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
//     (gateway_route_atom, dht::node_actor | server_actor | inspector_actor
//                          | average_peer_actor)                                 -> bool
//       routes that role to the actor; a null handle removes the route.
//   Timer to itself: (gateway_sweep_atom) drops stalled transfers.
#pragma once

#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/typed_actor.hpp>

#include "actors/dht/node.hpp"
#include "actors/inspector/inspector.hpp"
#include "actors/server/server.hpp"
#include "messages/limits.hpp"
#include "messages/parts.hpp"
#include "messages/type_ids.hpp"

namespace dmoe {

using gateway_route_atom = caf::atom_constant<caf::atom("gw_route")>;
using gateway_sweep_atom = caf::atom_constant<caf::atom("gw_sweep")>;

/// What peers ask of a trainer's averager (actors/averager/averager.hpp).
using average_peer_actor =
  caf::typed_actor<caf::replies_to<average_rpc_atom, payload>::with<payload>>;

/// The gateway's protocol (above): what every node publishes and what peers' handles speak.
using gateway_actor = caf::typed_actor<
  caf::replies_to<dht_rpc_atom, payload>::with<payload>,
  caf::replies_to<dht::dht_store_atom, std::string, std::string, std::string,
                  double>::with<uint32_t, uint32_t, uint32_t>,
  caf::replies_to<dht::dht_get_atom, std::string>::with<payload, uint32_t, uint32_t>,
  caf::replies_to<dht::dht_info_atom>::with<std::string>,
  caf::replies_to<expert_rpc_atom, payload>::with<payload>,
  caf::replies_to<inspect_atom, std::string>::with<std::string>,
  caf::replies_to<average_rpc_atom, payload>::with<payload>,
  caf::reacts_to<wire_part_atom, uint64_t, payload>,
  caf::replies_to<expert_rpc_atom, uint64_t, uint64_t, payload>::with<uint64_t, payload>,
  caf::replies_to<gateway_route_atom, dht::node_actor>::with<bool>,
  caf::replies_to<gateway_route_atom, server_actor>::with<bool>,
  caf::replies_to<gateway_route_atom, inspector_actor>::with<bool>,
  caf::replies_to<gateway_route_atom, average_peer_actor>::with<bool>>;

/// What a requester of calls in parts receives: the reply's parts before the answer.
using parts_receiver_actor = caf::typed_actor<caf::reacts_to<wire_part_atom, uint64_t, payload>>;

/// A transfer whose last part is older than this is dropped.
constexpr auto part_timeout = std::chrono::seconds(60);
/// How long the gateway waits for the server's answer to a call in parts.
constexpr auto role_reply_timeout = std::chrono::minutes(5);

struct gateway_setup {
  std::string name = "gateway";  // logger name
  wire_limits limits;            // max_message_bytes and part_bytes apply
};

gateway_actor spawn_gateway(caf::actor_system& system, gateway_setup setup);

/// Blocking: the gateway of the node at host:port (runtime/node_dial.hpp: dial_as, each step
/// bounded by `timeout`), refused unless it speaks all of gateway_actor. What a dmoe node
/// publishes is its gateway. Not from inside a handler.
caf::expected<gateway_actor> dial_gateway(caf::actor_system& system, const std::string& host,
                                          uint16_t port, std::chrono::milliseconds timeout);

}  // namespace dmoe
