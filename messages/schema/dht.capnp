@0xd3675d71429bb2b8;
# Kademlia RPCs between DHT nodes.
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("dmoe::wire");
using import "error.capnp".ErrorReply;

# A DHT participant: its 160-bit id (20 bytes) and where to reach it ("host:port" for TCP).
struct NodeInfo {
  nodeId @0 :Data;
  endpoint @1 :Text;
  publicKey @2 :Data;       # Ed25519, 32 bytes; nodeId is its RIPEMD-160 (actors/dht/node_id.hpp)
}

# One stored item. Many servers can declare under one key with distinct sub-keys; an empty
# sub-key is the key's plain value. The item with the later expiration wins.
# A sub-key "LABEL#OWNER" (OWNER: an Ed25519 public key in hex) is owned: the item is valid only
# with the owner's signature (actors/dht/ownership.hpp); other items carry none.
struct Item {
  subkey @0 :Data;
  value @1 :Data;
  expiration @2 :Float64;   # seconds since the Unix epoch
  signature @3 :Data;       # empty, or 64 bytes
}

struct StoreRequest {
  key @0 :Data;             # 20 bytes
  items @1 :List(Item);
}

struct StoreResult {
  accepted @0 :List(Bool);  # one per item: false when a newer item was already stored
}

struct FindValueResult {
  items @0 :List(Item);     # unexpired items under the key held by the responder
  closer @1 :List(NodeInfo);
}

struct DhtRequest {
  sender @0 :NodeInfo;      # the requester, so the responder can add it to its routing table
  union {
    ping @1 :Void;
    store @2 :StoreRequest;
    findNode @3 :Data;      # target id, 20 bytes
    findValue @4 :Data;     # key, 20 bytes
  }
  nonce @5 :Data;           # up to 32 random bytes the responder signs (keyProof); may be empty
}

struct DhtResponse {
  responder @0 :NodeInfo;
  union {
    pong @1 :Void;
    store @2 :StoreResult;
    findNode @3 :List(NodeInfo);
    findValue @4 :FindValueResult;
    error @5 :ErrorReply;
  }
  # The responder's Ed25519 signature of the request's nonce with its node id and endpoint
  # (actors/dht/ownership.hpp: key_proof_bytes): it holds the key its node id is derived from.
  # Empty when the request carried no nonce.
  keyProof @6 :Data;
}
