@0xbedaafd0f40711d2;
# Error replies: every request that cannot be served gets one of these instead of a result.
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("dmoe::wire");

enum ErrorCode {
  internal @0;          # a bug or an unexpected failure on the replying node
  malformed @1;         # the bytes did not decode as the expected message
  invalidArgument @2;   # decoded, but a field is out of range or inconsistent
  limitExceeded @3;     # a size, count or rate limit was hit
  unknownExpert @4;     # no expert with that id is hosted here
  shapeMismatch @5;     # a tensor's shape does not fit the expert
  dtypeMismatch @6;     # a tensor's dtype does not fit the expert
  notFound @7;          # no such key / value
  expired @8;           # an expiration time in the past
  timeout @9;           # a deadline passed while waiting for a peer
  unavailable @10;      # the peer or expert is down or shutting down
  nonFinite @11;        # NaN or infinity where the NaN policy forbids it
  forbidden @12;        # the sender may not do this (e.g. write an item another node owns)
  overloaded @13;       # the server is at one of its per-peer limits now; try another replica
  expertOverloaded @14; # this expert is at one of its per-peer limits; the server's others are not
}

struct ErrorReply {
  code @0 :ErrorCode;
  message @1 :Text;     # for a person: says what was wrong and with which field
}
