#include "runtime/tensor_codec.hpp"

#include <cstring>
#include <limits>
#include <string>

#include <capnp/message.h>
#include <capnp/orphan.h>
#include <torch/types.h>

namespace dmoe {

namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the wire format is little-endian");

// Below this size a copy is cheaper than an extra segment.
constexpr size_t external_data_threshold = 4096;

size_t element_size(wire::DType type) {
  switch (type) {
    case wire::DType::FLOAT32: return 4;
    case wire::DType::FLOAT16: return 2;
    case wire::DType::BFLOAT16: return 2;
    case wire::DType::FLOAT64: return 8;
    case wire::DType::INT64: return 8;
    case wire::DType::INT32: return 4;
    case wire::DType::UINT8: return 1;
    case wire::DType::BOOL: return 1;
  }
  return 0;
}

template <class Bits>
bool all_finite_bits(const void* data, size_t count, Bits exponent_mask) {
  const auto* bits = static_cast<const Bits*>(data);
  // A non-finite float has all exponent bits set. Fixed-size blocks: GCC's -O2 vectorizes a
  // loop only when its trip count needs no scalar epilogue.
  constexpr size_t block = 64;
  size_t i = 0;
  for (; i + block <= count; i += block) {
    Bits bad = 0;
    for (size_t j = 0; j < block; ++j)
      bad |= static_cast<Bits>((bits[i + j] & exponent_mask) == exponent_mask);
    if (bad)
      return false;
  }
  bool bad = false;
  for (; i < count; ++i)
    bad |= (bits[i] & exponent_mask) == exponent_mask;
  return !bad;
}

bool all_finite(wire::DType stored, const void* data, size_t count) {
  switch (stored) {
    case wire::DType::FLOAT32: return all_finite_bits<uint32_t>(data, count, 0x7F800000u);
    case wire::DType::FLOAT16: return all_finite_bits<uint16_t>(data, count, 0x7C00u);
    case wire::DType::BFLOAT16: return all_finite_bits<uint16_t>(data, count, 0x7F80u);
    case wire::DType::FLOAT64:
      return all_finite_bits<uint64_t>(data, count, 0x7FF0000000000000ull);
    default: return true;
  }
}

bool known(wire::DType type) {
  return static_cast<uint16_t>(type) <= static_cast<uint16_t>(wire::DType::BOOL);
}

caf::error too_large(const std::string& what, uint64_t got, uint64_t limit) {
  return make_error(errc::limit_exceeded, what + " " + std::to_string(got)
                                            + " exceeds the limit of " + std::to_string(limit));
}

}  // namespace

wire::Compression wire_compression(compression_kind kind) {
  return kind == compression_kind::float16 ? wire::Compression::FLOAT16 : wire::Compression::NONE;
}

caf::expected<wire::DType> to_wire_dtype(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32: return wire::DType::FLOAT32;
    case torch::kFloat16: return wire::DType::FLOAT16;
    case torch::kBFloat16: return wire::DType::BFLOAT16;
    case torch::kFloat64: return wire::DType::FLOAT64;
    case torch::kInt64: return wire::DType::INT64;
    case torch::kInt32: return wire::DType::INT32;
    case torch::kUInt8: return wire::DType::UINT8;
    case torch::kBool: return wire::DType::BOOL;
    default:
      return make_error(errc::dtype_mismatch,
                        std::string("dtype ") + c10::toString(type) + " has no wire encoding");
  }
}

caf::expected<torch::ScalarType> from_wire_dtype(wire::DType type) {
  switch (type) {
    case wire::DType::FLOAT32: return torch::kFloat32;
    case wire::DType::FLOAT16: return torch::kFloat16;
    case wire::DType::BFLOAT16: return torch::kBFloat16;
    case wire::DType::FLOAT64: return torch::kFloat64;
    case wire::DType::INT64: return torch::kInt64;
    case wire::DType::INT32: return torch::kInt32;
    case wire::DType::UINT8: return torch::kUInt8;
    case wire::DType::BOOL: return torch::kBool;
  }
  return make_error(errc::malformed,
                    "unknown dtype " + std::to_string(static_cast<uint16_t>(type)));
}

void write_tensor(wire::Tensor::Builder out, const torch::Tensor& t, wire::Compression compression,
                  tensor_keepalive& keep) {
  auto dtype = to_wire_dtype(t.scalar_type());
  if (!dtype)
    throw std::invalid_argument(describe(dtype.error()));
  auto src = t.detach().to(torch::kCPU).contiguous();
  if (compression == wire::Compression::FLOAT16 && src.scalar_type() == torch::kFloat32)
    src = src.to(torch::kFloat16);
  else
    compression = wire::Compression::NONE;
  out.setDtype(*dtype);
  out.setCompression(compression);
  auto shape = out.initShape(static_cast<unsigned>(src.dim()));
  for (int64_t i = 0; i < src.dim(); ++i)
    shape.set(static_cast<unsigned>(i), src.size(i));
  auto nbytes = static_cast<size_t>(src.numel()) * src.element_size();
  auto* bytes = static_cast<const kj::byte*>(src.data_ptr());
  if (nbytes >= external_data_threshold && nbytes % sizeof(capnp::word) == 0
      && reinterpret_cast<uintptr_t>(bytes) % alignof(capnp::word) == 0) {
    auto orphanage = capnp::Orphanage::getForMessageContaining(out);
    out.adoptData(orphanage.referenceExternalData(capnp::Data::Reader(bytes, nbytes)));
    keep.push_back(std::move(src));
  } else {
    out.setData(capnp::Data::Reader(bytes, nbytes));
  }
}

caf::expected<torch::Tensor> read_tensor(wire::Tensor::Reader in, const wire_limits& limits,
                                         std::shared_ptr<const void> owner) {
  auto type = in.getDtype();
  if (!known(type))
    return make_error(errc::malformed,
                      "unknown dtype " + std::to_string(static_cast<uint16_t>(type)));
  auto compression = in.getCompression();
  auto stored = type;
  if (compression == wire::Compression::FLOAT16) {
    if (type != wire::DType::FLOAT32)
      return make_error(errc::invalid_argument, "float16 compression applies to float32 only");
    stored = wire::DType::FLOAT16;
  } else if (compression != wire::Compression::NONE) {
    return make_error(errc::malformed, "unknown compression "
                                         + std::to_string(static_cast<uint16_t>(compression)));
  }
  auto shape = in.getShape();
  if (shape.size() > limits.max_tensor_rank)
    return too_large("tensor rank", shape.size(), limits.max_tensor_rank);
  std::vector<int64_t> sizes;
  sizes.reserve(shape.size());
  uint64_t numel = 1;
  auto elem = element_size(stored);
  // The limit holds for the tensor as decoded: a float16 one becomes float32, twice its bytes.
  auto max_elements = limits.max_tensor_bytes / element_size(type);
  for (auto dim : shape) {
    if (dim < 0)
      return make_error(errc::invalid_argument,
                        "negative dimension " + std::to_string(dim) + " in tensor shape");
    // Each dimension on its own must fit, so a zero elsewhere cannot hide a huge one.
    if (static_cast<uint64_t>(dim) > max_elements)
      return too_large("tensor dimension", static_cast<uint64_t>(dim), max_elements);
    if (dim > 0 && numel > max_elements / static_cast<uint64_t>(dim))
      return too_large("tensor of more than", max_elements, max_elements);
    numel *= static_cast<uint64_t>(dim);
    sizes.push_back(dim);
  }
  auto data = in.getData();
  auto nbytes = numel * elem;
  if (numel * element_size(type) > limits.max_tensor_bytes)
    return too_large("tensor bytes", numel * element_size(type), limits.max_tensor_bytes);
  if (data.size() != nbytes)
    return make_error(errc::shape_mismatch, "tensor data holds " + std::to_string(data.size())
                                              + " bytes but its shape and dtype need "
                                              + std::to_string(nbytes));
  if (limits.nans == nan_policy::reject && !all_finite(stored, data.begin(), numel))
    return make_error(errc::non_finite, "tensor contains NaN or infinity");
  auto stored_type = from_wire_dtype(stored);
  auto options = torch::TensorOptions().dtype(*stored_type);
  auto* raw = const_cast<kj::byte*>(data.begin());
  torch::Tensor out;
  if (owner && compression == wire::Compression::NONE && nbytes > 0) {
    out = torch::from_blob(raw, sizes, [keep = std::move(owner)](void*) {}, options);
  } else {
    out = torch::empty(sizes, options);
    if (nbytes > 0)
      std::memcpy(out.data_ptr(), raw, nbytes);
  }
  if (compression == wire::Compression::FLOAT16)
    out = out.to(torch::kFloat32);
  return out;
}

caf::expected<std::vector<torch::Tensor>>
read_tensors(capnp::List<wire::Tensor>::Reader in, const wire_limits& limits,
             const std::shared_ptr<const void>& owner) {
  if (in.size() > limits.max_tensors_per_call)
    return too_large("tensor count", in.size(), limits.max_tensors_per_call);
  std::vector<torch::Tensor> out;
  out.reserve(in.size());
  for (auto t : in) {
    auto x = read_tensor(t, limits, owner);
    if (!x)
      return x.error();
    out.push_back(std::move(*x));
  }
  return out;
}

void write_tensors(capnp::List<wire::Tensor>::Builder out, const std::vector<torch::Tensor>& ts,
                   wire::Compression compression, tensor_keepalive& keep) {
  for (size_t i = 0; i < ts.size(); ++i)
    write_tensor(out[static_cast<unsigned>(i)], ts[i], compression, keep);
}

payload encode_tensor(const torch::Tensor& t, wire::Compression compression) {
  capnp::MallocMessageBuilder message;
  tensor_keepalive keep;
  write_tensor(message.initRoot<wire::Tensor>(), t, compression, keep);
  return to_payload(message);
}

caf::expected<torch::Tensor> decode_tensor(const payload& in, const wire_limits& limits) {
  return decode<wire::Tensor>(in, limits, [&](wire::Tensor::Reader r) {
    return read_tensor(r, limits);
  });
}

caf::expected<torch::Tensor> decode_tensor(payload&& in, const wire_limits& limits) {
  return decode_owned<wire::Tensor>(
    std::move(in), limits, [&](wire::Tensor::Reader r, std::shared_ptr<shared_message> owner) {
      return read_tensor(r, limits, std::move(owner));
    });
}

}  // namespace dmoe
