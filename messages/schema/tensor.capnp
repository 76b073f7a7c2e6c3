@0x8756d248a9c1af31;
# Tensors on the wire: dtype, shape and the raw little-endian bytes in row-major order.
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("dmoe::wire");

enum DType {
  float32 @0;
  float16 @1;
  bfloat16 @2;
  float64 @3;
  int64 @4;
  int32 @5;
  uint8 @6;
  bool @7;
}

enum Compression {
  none @0;       # data holds elements of `dtype`
  float16 @1;    # a float32 tensor sent as float16 halves the bytes; decoded back to float32
}

struct Tensor {
  dtype @0 :DType;           # the dtype the receiver gets
  shape @1 :List(Int64);     # empty for a 0-dim tensor
  compression @2 :Compression;
  data @3 :Data;             # prod(shape) elements of the stored dtype (see compression)
}
