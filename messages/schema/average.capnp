@0xc2b1f4e7a9d03e51;
# Averaging the trainers' shared parameters (actors/averager): matchmaking replies, the
# butterfly all-reduce's pieces, the leader's decision and the state a joining trainer downloads.
# Every request names its run; a request for another run, a piece of the wrong size or encoding,
# and a non-finite value are refused with an ErrorReply.
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("dmoe::wire");
using import "error.capnp".ErrorReply;

enum VectorEncoding {
  float32 @0;   # 4 bytes per element, exact
  float16 @1;   # 2 bytes per element, ~3 decimal digits
  int8 @2;      # 1 byte per element and one float32 scale per block of `blockElements`
}

# A trainer taking part: who it is, where it serves (empty: client mode, it reduces nothing and
# cannot lead), how far it is and what its contribution weighs.
struct Member {
  id @0 :Text;            # its DHT owner tag (hex): the order that picks leaders
  endpoint @1 :Text;      # "host:port", or empty for a client behind NAT
  outerStep @2 :UInt64;   # outer steps its shared parameters have been through
  fingerprint @3 :UInt64; # hash of the shared parameters at that outer step
  weight @4 :Float64;     # samples processed since the last outer step
  elements @5 :UInt64;    # length of the flattened shared parameters
}

# A run of elements of one part of the flattened vector, encoded.
struct Piece {
  part @0 :UInt32;
  offset @1 :UInt64;      # first element, counted from the part's start
  count @2 :UInt32;       # elements
  encoding @3 :VectorEncoding;
  data @4 :Data;          # count elements in `encoding`
  scales @5 :List(Float32);  # int8: one per block of blockElements, else empty
}

# The group a leader formed: members in order (a member's index is its place here), the parts
# each reducer reduces (parts[i] is reduced by members[reducers[i]]; bounds has parts + 1
# element offsets) and the encoding on the wire.
struct Group {
  groupId @0 :UInt64;
  members @1 :List(Member);
  reducers @2 :List(UInt32);
  bounds @3 :List(UInt64);
  encoding @4 :VectorEncoding;
}

# The leader's decision once the reducers reported: the members whose contributions reached
# every live reducer (the survivors) and the parts whose reducer did not report, which the
# leader reduces itself from the survivors' contributions sent again.
struct Decision {
  survivors @0 :List(UInt32);
  orphans @1 :List(UInt32);
}

struct StateHeader {
  run @0 :Text;
  model @1 :Text;          # the model's signature: a state of another model is refused
  outerStep @2 :UInt64;
  fingerprint @3 :UInt64;
  elements @4 :UInt64;     # parameters; the state holds them and as many momentum values
}

struct AverageRequest {
  run @0 :Text;
  groupId @1 :UInt64;      # 0 for join and state
  union {
    join @2 :Member;                # -> group, once the leader formed it (or an error)
    contribute @3 :ContributePiece; # -> ack
    report @4 :Report;              # reducer to leader -> decision, once decided
    outcome @5 :Void;               # member to leader -> decision, once decided
    fetch @6 :FetchPiece;           # -> piece of the averaged part, once averaged
    state @7 :FetchPiece;           # -> stateHeader and piece (part 0) of the state
  }
}

struct ContributePiece {
  sender @0 :UInt32;       # its index in the group
  piece @1 :Piece;
}

struct Report {
  part @0 :UInt32;
  senders @1 :List(UInt32); # the members whose whole contribution to this part arrived valid
}

struct FetchPiece {
  part @0 :UInt32;
  offset @1 :UInt64;
  count @2 :UInt32;
  outerStep @3 :UInt64;     # state: with `pinned`, the outer step of the donor's recent state
  pinned @4 :Bool;          # state: false asks for the newest
}

struct AverageReply {
  union {
    ack @0 :Void;
    group @1 :Group;
    decision @2 :Decision;
    piece @3 :Piece;
    state @4 :StateReply;
    error @5 :ErrorReply;
  }
}

struct StateReply {
  header @0 :StateHeader;
  piece @1 :Piece;          # float32, of the 2 x elements values: parameters then momentum
}
