// The DHT node actor: one Kademlia participant.
//
// Its whole protocol:
//   From peers, Cap'n Proto (schema/dht.capnp):
//     (dht_rpc_atom, payload: DhtRequest)            -> payload: DhtResponse
//       ping / store / findNode / findValue. A request that does not decode or breaks a limit
//       gets a DhtResponse with an ErrorReply; the node keeps serving. The sender's claimed id
//       and endpoint enter the routing table only after a ping to that endpoint is answered
//       with that id (bounded: actors/dht/claim_checks.hpp). Node ids are derived from
//       the nodes' public keys (node_id_of), which every NodeInfo carries: a sender, responder
//       or listed contact whose id is not its key's is never learned or walked to.
//   From users (other actors, user code, dmoe-shell), local or remote:
//     (dht_start_atom, std::string own_endpoint)     -> uint32 contacts
//       registers the node under its endpoint, bootstraps from the configured peers and answers
//       once the first bootstrap attempt ended (0 contacts: none answered; retries go on).
//     (dht_store_atom, key, subkey, value, double expiration)
//                                                    -> (uint32 replicas, uint32 rounds, uint32 requests)
//       stores on the k nodes closest to RIPEMD-160(key); error when no node took it. A sub-key
//       "LABEL#OWNER" is refused unless signed by OWNER (actors/dht/ownership.hpp): use
//     (dht_declare_atom, key, label, value, double expiration)   (local actors only)
//                                                    -> (uint32 replicas, uint32 rounds, uint32 requests)
//       stores an item owned by this node: sub-key "LABEL#<its public key>", signed by it; only
//       this node can replace it, and it lives at most dht.max-owned-ttl. Expert servers declare
//       their experts this way.
//     (dht_get_atom, key)                            -> (payload, uint32 rounds, uint32 requests)
//       payload: DhtResponse whose findValue lists the newest unexpired item per sub-key.
//     (dht_info_atom)                                -> std::string   a summary for people
//     (stats_atom)                                   -> node_stats (node_stats.hpp)
//     (dht_replicate_atom)                           -> uint32 keys   (local actors only)
//       republishes every stored key to the k nodes now closest to it, at once.
//     (dht_prove_atom, endpoint, public_key)         -> bool          (local actors only)
//       whether the node answering at `endpoint` holds `public_key` (raw Ed25519): it signed a
//       fresh nonce with it, for that endpoint (a router's check of a declared endpoint).
//   Timers to itself (node.cpp: node_impl): bucket refresh, replication and expiry, bootstrap
//     retries.
// Use actors/dht/client.hpp rather than sending these by hand.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/settings.hpp>
#include <caf/typed_actor.hpp>

#include "actors/dht/node_id.hpp"
#include "actors/dht/node_stats.hpp"
#include "actors/dht/ownership.hpp"
#include "actors/dht/peers.hpp"
#include "messages/type_ids.hpp"
#include "runtime/options.hpp"

namespace dmoe::dht {

using dht_start_atom = caf::atom_constant<caf::atom("dht_start")>;
using dht_store_atom = caf::atom_constant<caf::atom("dht_store")>;
using dht_declare_atom = caf::atom_constant<caf::atom("dht_decl")>;
using dht_get_atom = caf::atom_constant<caf::atom("dht_get")>;
using dht_info_atom = caf::atom_constant<caf::atom("dht_info")>;
using dht_replicate_atom = caf::atom_constant<caf::atom("dht_repl")>;
using dht_prove_atom = caf::atom_constant<caf::atom("dht_prove")>;

/// The node's protocol (above).
using node_actor = caf::typed_actor<
  caf::replies_to<dht_rpc_atom, payload>::with<payload>,
  caf::replies_to<dht_start_atom, std::string>::with<uint32_t>,
  caf::replies_to<dht_store_atom, std::string, std::string, std::string,
                  double>::with<uint32_t, uint32_t, uint32_t>,
  caf::replies_to<dht_declare_atom, std::string, std::string, std::string,
                  double>::with<uint32_t, uint32_t, uint32_t>,
  caf::replies_to<dht_get_atom, std::string>::with<payload, uint32_t, uint32_t>,
  caf::replies_to<dht_info_atom>::with<std::string>,
  caf::replies_to<stats_atom>::with<node_stats>,
  caf::replies_to<dht_replicate_atom>::with<uint32_t>,
  caf::replies_to<dht_prove_atom, std::string, std::string>::with<bool>>;

/// What anyone may ask a node, directly or through its gateway (gateway.hpp); node_actor and
/// gateway_actor convert to it.
using access_actor = caf::typed_actor<
  caf::replies_to<dht_store_atom, std::string, std::string, std::string,
                  double>::with<uint32_t, uint32_t, uint32_t>,
  caf::replies_to<dht_get_atom, std::string>::with<payload, uint32_t, uint32_t>,
  caf::replies_to<dht_info_atom>::with<std::string>>;

/// What a node needs of its peers: their RPC. Another node's gateway (what a node publishes)
/// and a node itself speak it.
using rpc_actor = caf::typed_actor<caf::replies_to<dht_rpc_atom, payload>::with<payload>>;

/// What a router needs of its node: lookups. node_actor converts to it.
using lookup_actor =
  caf::typed_actor<caf::replies_to<dht_get_atom, std::string>::with<payload, uint32_t, uint32_t>>;

/// What a router needs of its node: lookups and proofs of declared endpoints. node_actor
/// converts to it.
using router_dht_actor =
  caf::typed_actor<caf::replies_to<dht_get_atom, std::string>::with<payload, uint32_t, uint32_t>,
                   caf::replies_to<dht_prove_atom, std::string, std::string>::with<bool>>;

struct node_setup {
  std::string name = "dht";                      // logger name
  dht_options options;
  wire_limits limits;
  std::shared_ptr<local_directory> directory;    // in-process peers; may be null
  std::function<double()> clock;                 // seconds since the epoch; wall clock if empty
  uint64_t seed = 0;                             // for jitter; random when 0
  std::shared_ptr<const identity> signer;        // its key: its id (node_id_of) and the
                                                 // signatures of its owned items; fresh when null
};

/// Spawns a node; it serves requests at once but joins the network on dht_start_atom.
node_actor spawn_node(caf::actor_system& system, node_setup setup);

/// The DHT's notion of now: wall-clock seconds since the Unix epoch.
double wall_clock();

}  // namespace dmoe::dht
