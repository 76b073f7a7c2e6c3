@0x8ad683690878ac21;
# What an expert server declares in the DHT (messages/declaration.hpp): under a grid prefix key
# ("ffn." or "ffn.3."), one item per server (and chunk) naming the children of the prefix it
# hosts and where it serves them. One signed item covers every expert of the prefix, so a server
# with 4,096 experts of a 64x64 grid stores 65 items per round, not 8,256.
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("dmoe::wire");

# Children begin, begin + 1, ..., end - 1.
struct ChildRange {
  begin @0 :UInt32;
  end @1 :UInt32;
}

struct PrefixDeclaration {
  endpoint @0 :Text;            # "host:port" the server serves these experts at
  children @1 :List(ChildRange);  # ascending, disjoint, not touching
  leaves @2 :Bool;              # the children complete expert ids (the grid's last coordinate)
  maxRows @3 :UInt32;           # most rows one call may carry (server.max-batch-size); 0: unsaid
}
