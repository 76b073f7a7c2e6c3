// What a DHT node (node.hpp) reports for (stats_atom).
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <caf/typed_actor.hpp>

#include "messages/type_ids.hpp"
#include "runtime/stats_fields.hpp"

namespace dmoe::dht {

using dmoe::inspect;

struct contact_stats {
  std::string id;  // hex
  std::string endpoint;
  int64_t failures = 0;
};

struct node_stats {
  std::string id;  // hex
  std::string endpoint;
  std::string owner;  // its public key (hex): the owner tag of the items it declares
  std::vector<contact_stats> contacts;
  int64_t buckets = 0;
  int64_t keys = 0;
  int64_t items = 0;  // stored
  int64_t peers_connected = 0;
  int64_t requests_served = 0;
  int64_t bad_requests = 0;
  int64_t requests_sent = 0;
  int64_t requests_failed = 0;
  int64_t bytes_sent = 0;      // RPC payloads to peers: requests made, answers given
  int64_t bytes_received = 0;  // RPC payloads from peers: answers got, requests served
  int64_t lookups = 0;
  int64_t peers_down = 0;
  int64_t forged_items = 0;    // owned items in peers' answers whose signature failed, dropped
  int64_t claims_checked = 0;  // new senders' endpoints pinged before being learned
  int64_t claims_refused = 0;  // not answered there with the claimed id: never learned
  int64_t claims_deferred = 0;  // not dialed back now (claim_checks' limits): not learned yet
  int64_t key_proofs_checked = 0;  // answers whose signature of this node's nonce was verified
  int64_t signature_checks = 0;  // of owned items stored by peers
  int64_t fair_evictions = 0;    // items dropped to give a peer its share of a full key
  int64_t access_refused = 0;    // lookups and stores asked over a peer's dht.peer-access-rate
};

inline auto fields_of(contact_stats& x) {
  return std::make_tuple(field("id", x.id), field("endpoint", x.endpoint),
                         field("failures", x.failures));
}

inline auto fields_of(node_stats& x) {
  return std::make_tuple(
    field("id", x.id), field("endpoint", x.endpoint), field("owner", x.owner),
    field("contacts", x.contacts), field("buckets", x.buckets), field("keys", x.keys),
    field("items", x.items), field("peers_connected", x.peers_connected),
    field("requests_served", x.requests_served), field("bad_requests", x.bad_requests),
    field("requests_sent", x.requests_sent), field("requests_failed", x.requests_failed),
    field("bytes_sent", x.bytes_sent), field("bytes_received", x.bytes_received),
    field("lookups", x.lookups), field("peers_down", x.peers_down),
    field("forged_items", x.forged_items), field("claims_checked", x.claims_checked),
    field("claims_refused", x.claims_refused), field("claims_deferred", x.claims_deferred),
    field("key_proofs_checked", x.key_proofs_checked),
    field("signature_checks", x.signature_checks), field("fair_evictions", x.fair_evictions),
    field("access_refused", x.access_refused));
}

/// What the inspector asks a DHT node for its stats (node_actor converts to it).
using node_stats_actor = caf::typed_actor<caf::replies_to<stats_atom>::with<node_stats>>;

}  // namespace dmoe::dht
