@0x8bfcb3fb2cd7d32e;
# Test-only schema: a recursive struct, to build messages nested far deeper than dmoe's schemas.
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("dmoe::test_wire");

struct Nested {
  child @0 :Nested;
  depth @1 :UInt32;
}
