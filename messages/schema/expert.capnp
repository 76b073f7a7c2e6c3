@0xbff05eef6a54e930;
# Calls to experts hosted by an expert server.
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("dmoe::wire");
using import "tensor.capnp".Tensor;
using import "tensor.capnp".DType;
using import "error.capnp".ErrorReply;

# What an expert takes or returns: -1 in the first dimension stands for the batch size.
struct TensorSchema {
  dtype @0 :DType;
  shape @1 :List(Int64);
}

struct ForwardRequest {
  expertId @0 :Text;
  inputs @1 :List(Tensor);
}

struct BackwardRequest {
  expertId @0 :Text;
  inputs @1 :List(Tensor);       # the inputs of the forward pass being differentiated
  gradOutputs @2 :List(Tensor);  # d loss / d outputs, one per output
}

struct InfoRequest {
  expertId @0 :Text;
}

struct ExpertInfo {
  expertId @0 :Text;
  expertType @1 :Text;           # registry name, e.g. "ffn"
  inputs @2 :List(TensorSchema);
  outputs @3 :List(TensorSchema);
  maxBatchSize @4 :UInt64;       # most rows one call may carry (server.max-batch-size); 0: not said
}

struct ExpertRequest {
  union {
    forward @0 :ForwardRequest;
    backward @1 :BackwardRequest;
    info @2 :InfoRequest;
  }
}

struct ExpertResponse {
  union {
    forward @0 :List(Tensor);      # the outputs
    backward @1 :List(Tensor);     # d loss / d inputs, one per input
    info @2 :ExpertInfo;
    error @3 :ErrorReply;
  }
}
