// Tensors <-> schema/tensor.capnp. Encoding references large contiguous tensor bytes from the
// message instead of copying them, so serializing costs one copy (into the payload). Decoding
// either copies into a fresh tensor, or, from an owned payload, aliases the payload's bytes.
// Every decode validates dtype, rank, dims, byte length, size limits and the NaN policy.
#pragma once

#include <memory>
#include <vector>

#include <torch/types.h>

#include "messages/payload.hpp"
#include "runtime/choices.hpp"
#include "messages/schema/tensor.capnp.h"

namespace dmoe {

/// Tensors kept alive until the message that references their bytes has been serialized.
using tensor_keepalive = std::vector<torch::Tensor>;

/// The wire form of a compression setting.
wire::Compression wire_compression(compression_kind kind);

caf::expected<wire::DType> to_wire_dtype(torch::ScalarType type);
caf::expected<torch::ScalarType> from_wire_dtype(wire::DType type);

/// Writes `t` (any device; moved to CPU, made contiguous) into `out`. `compression` float16
/// applies to float32 tensors only. Referenced tensors are appended to `keep`.
void write_tensor(wire::Tensor::Builder out, const torch::Tensor& t, wire::Compression compression,
                  tensor_keepalive& keep);

/// Reads and validates one tensor. With an `owner`, an uncompressed tensor aliases the message
/// bytes and keeps `owner` alive; without, it is copied.
caf::expected<torch::Tensor> read_tensor(wire::Tensor::Reader in, const wire_limits& limits,
                                         std::shared_ptr<const void> owner = nullptr);

caf::expected<std::vector<torch::Tensor>>
read_tensors(capnp::List<wire::Tensor>::Reader in, const wire_limits& limits,
             const std::shared_ptr<const void>& owner = nullptr);

void write_tensors(capnp::List<wire::Tensor>::Builder out, const std::vector<torch::Tensor>& ts,
                   wire::Compression compression, tensor_keepalive& keep);

/// A payload holding one tensor as its root.
payload encode_tensor(const torch::Tensor& t, wire::Compression compression = wire::Compression::NONE);
caf::expected<torch::Tensor> decode_tensor(const payload& in, const wire_limits& limits = {});
/// Zero-copy variant: the returned tensor aliases the moved-in bytes.
caf::expected<torch::Tensor> decode_tensor(payload&& in, const wire_limits& limits = {});

}  // namespace dmoe
