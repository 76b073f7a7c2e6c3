// Round trips and limits of the tensor codec (messages.tensor_codec) and of the expert codec's
// tensor-carrying calls and replies (messages.expert_codec; expert ids are in expert_id_test).
// The two suites share this file so that LibTorch's headers are compiled once.
#define CAF_SUITE messages.tensor_codec
#include <caf/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <caf/sec.hpp>
#include <torch/types.h>

#include "runtime/expert_codec.hpp"
#include "runtime/tensor_codec.hpp"
#include "tests/messages/test_util.hpp"

using namespace dmoe;
using dmoe::test::outcome;

namespace {

constexpr torch::ScalarType wire_dtypes[] = {torch::kFloat32, torch::kFloat16, torch::kBFloat16,
                                             torch::kFloat64, torch::kInt64,   torch::kInt32,
                                             torch::kUInt8,   torch::kBool};
constexpr torch::ScalarType float_dtypes[] = {torch::kFloat32, torch::kFloat16, torch::kBFloat16,
                                              torch::kFloat64};

torch::Tensor sample(torch::ScalarType type, torch::IntArrayRef shape) {
  switch (type) {
    case torch::kInt64:
      return torch::randint(-(int64_t{1} << 40), int64_t{1} << 40, shape, torch::kInt64);
    case torch::kInt32:
      return torch::randint(std::numeric_limits<int32_t>::min(),
                            std::numeric_limits<int32_t>::max(), shape, torch::kInt32);
    case torch::kUInt8: return torch::randint(0, 256, shape, torch::kUInt8);
    case torch::kBool: return torch::randint(0, 2, shape, torch::kInt64).to(torch::kBool);
    default: return torch::randn(shape).to(type);
  }
}

// Same dtype, same shape and the same bytes (so NaNs compare equal too).
bool same(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes())
    return false;
  auto x = a.contiguous();
  auto y = b.contiguous();
  return std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * x.element_size()) == 0;
}

bool points_into(const torch::Tensor& t, const char* begin, size_t size) {
  auto p = reinterpret_cast<uintptr_t>(t.data_ptr());
  auto b = reinterpret_cast<uintptr_t>(begin);
  return p >= b && p + t.numel() * t.element_size() <= b + size;
}

struct decoded_both {
  caf::expected<torch::Tensor> copied;
  caf::expected<torch::Tensor> aliased;
};

decoded_both decode_both(const payload& p, const wire_limits& limits = {}) {
  auto copy = p;
  return {decode_tensor(p, limits), decode_tensor(std::move(copy), limits)};
}

torch::Tensor filled(torch::ScalarType type, double value) {
  auto t = torch::randn({4, 4}).to(type);
  t.index_put_({1, 2}, value);
  return t;
}

}  // namespace

CAF_TEST(every wire dtype round trips through both decoders) {
  torch::manual_seed(1);
  // {3, 5} is stored inline, {64, 64} is referenced as external data by the encoder, {4097}
  // has an odd byte count for 1- and 2-byte dtypes, {2, 3, 4} has rank 3.
  std::vector<std::vector<int64_t>> shapes{{3, 5}, {64, 64}, {4097}, {2, 3, 4}};
  for (auto type : wire_dtypes) {
    for (const auto& shape : shapes) {
      auto t = sample(type, shape);
      auto p = encode_tensor(t);
      auto [copied, aliased] = decode_both(p);
      CAF_REQUIRE(copied && aliased);
      if (!same(*copied, t) || !same(*aliased, t))
        CAF_ERROR("dtype " << c10::toString(type) << " shape " << t.sizes() << " differs");
      CAF_CHECK(copied->is_contiguous());
    }
  }
  CAF_CHECK_EQUAL(outcome(to_wire_dtype(torch::kBool)), "ok");
  CAF_CHECK(*to_wire_dtype(torch::kBFloat16) == wire::DType::BFLOAT16);
  CAF_CHECK(*from_wire_dtype(wire::DType::UINT8) == torch::kUInt8);
}

CAF_TEST(a 0-dim tensor round trips) {
  for (auto t : {torch::tensor(3.5f), torch::tensor(int64_t{-7}), torch::tensor(true)}) {
    CAF_REQUIRE_EQUAL(t.dim(), 0);
    auto [copied, aliased] = decode_both(encode_tensor(t));
    CAF_REQUIRE(copied && aliased);
    CAF_CHECK_EQUAL(copied->dim(), 0);
    CAF_CHECK_EQUAL(aliased->dim(), 0);
    CAF_CHECK(same(*copied, t));
    CAF_CHECK(same(*aliased, t));
  }
}

CAF_TEST(an empty tensor round trips with its shape) {
  for (auto shape : {std::vector<int64_t>{0}, std::vector<int64_t>{3, 0, 5}}) {
    auto t = torch::empty(shape, torch::kFloat64);
    auto [copied, aliased] = decode_both(encode_tensor(t));
    CAF_REQUIRE(copied && aliased);
    CAF_CHECK_EQUAL(copied->numel(), 0);
    CAF_CHECK(copied->sizes() == t.sizes());
    CAF_CHECK(aliased->sizes() == t.sizes());
    CAF_CHECK(copied->scalar_type() == torch::kFloat64);
  }
}

CAF_TEST(a 64 MiB tensor round trips through both decoders) {
  torch::manual_seed(2);
  auto t = torch::rand({4096, 4096});  // 16 Mi floats
  CAF_REQUIRE_EQUAL(t.numel() * t.element_size(), int64_t{64} << 20);
  auto p = encode_tensor(t);
  CAF_CHECK_GREATER(p.bytes.size(), size_t{64} << 20);
  auto copied = decode_tensor(p);
  CAF_REQUIRE(copied);
  CAF_CHECK(same(*copied, t));
  const auto* begin = p.bytes.data();
  auto size = p.bytes.size();
  auto aliased = decode_tensor(std::move(p));
  CAF_REQUIRE(aliased);
  CAF_CHECK(points_into(*aliased, begin, size));
  CAF_CHECK(same(*aliased, t));
}

CAF_TEST(non-contiguous inputs are encoded in logical order) {
  torch::manual_seed(3);
  auto base = torch::randn({64, 48});
  std::vector<torch::Tensor> views{
    base.t(),                                                // transposed
    base.index({torch::indexing::Slice(1, torch::indexing::None, 3)}),  // strided rows
    base.index({torch::indexing::Slice(), 5}),               // one column
    torch::arange(4, torch::kInt32).expand({3, 4}),          // stride 0
  };
  for (const auto& v : views) {
    auto [copied, aliased] = decode_both(encode_tensor(v));
    CAF_REQUIRE(copied && aliased);
    CAF_CHECK(torch::equal(*copied, v));
    CAF_CHECK(torch::equal(*aliased, v));
    CAF_CHECK(copied->is_contiguous());
  }
  CAF_CHECK(!views[0].is_contiguous());
}

CAF_TEST(float16 compression halves a float32 tensor and decodes to float32) {
  torch::manual_seed(4);
  auto t = torch::randn({256, 64}) * 100;
  auto plain = encode_tensor(t);
  auto packed = encode_tensor(t, wire::Compression::FLOAT16);
  CAF_CHECK_LESS(packed.bytes.size(), plain.bytes.size() / 2 + 256);
  auto [copied, aliased] = decode_both(packed);
  CAF_REQUIRE(copied && aliased);
  CAF_CHECK(copied->scalar_type() == torch::kFloat32);
  CAF_CHECK(aliased->scalar_type() == torch::kFloat32);
  CAF_CHECK(copied->sizes() == t.sizes());
  // float16 keeps 11 significant bits: relative error <= 2^-11.
  auto rel = ((*copied - t).abs() / t.abs().clamp_min(1e-3)).max().item<float>();
  CAF_CHECK_LESS(rel, 1e-3f);
  CAF_CHECK(!torch::equal(*copied, t));  // it really went through float16
  CAF_CHECK(torch::equal(*copied, t.to(torch::kFloat16).to(torch::kFloat32)));
  CAF_CHECK(torch::equal(*aliased, *copied));
  // Other dtypes ignore the compression and come back exactly.
  for (auto type : {torch::kFloat64, torch::kInt64, torch::kFloat16}) {
    auto x = sample(type, {32, 32});
    auto back = decode_tensor(encode_tensor(x, wire::Compression::FLOAT16));
    CAF_REQUIRE(back);
    CAF_CHECK(same(*back, x));
  }
}

CAF_TEST(the copying decode owns its bytes) {
  auto t = torch::arange(2048, torch::kFloat32);
  auto p = encode_tensor(t);
  auto x = decode_tensor(p);
  CAF_REQUIRE(x);
  CAF_CHECK(!points_into(*x, p.bytes.data(), p.bytes.size()));
  std::fill(p.bytes.begin(), p.bytes.end(), char{0x55});
  CAF_CHECK(torch::equal(*x, t));
}

CAF_TEST(the zero-copy decode aliases the payload and outlives the payload variable) {
  torch::manual_seed(5);
  for (auto shape : {std::vector<int64_t>{512, 256}, std::vector<int64_t>{3, 3}}) {
    auto t = torch::randn(shape);
    torch::Tensor kept;
    const char* begin = nullptr;
    size_t size = 0;
    {
      auto p = encode_tensor(t);
      begin = p.bytes.data();
      size = p.bytes.size();
      auto x = decode_tensor(std::move(p));
      CAF_REQUIRE(x);
      kept = *x;
    }  // the payload variable and the expected<> are gone; the tensor owns the bytes now
    CAF_CHECK(points_into(kept, begin, size));
    // Churn the allocator: freed memory would be reused and overwritten here.
    std::vector<std::vector<char>> noise;
    for (int i = 0; i < 8; ++i)
      noise.emplace_back(size, static_cast<char>(0xA5));
    CAF_CHECK(torch::equal(kept, t));
    auto view = kept.index({0});
    kept = torch::Tensor{};  // a view keeps the bytes alive as well
    CAF_CHECK(torch::equal(view, t.index({0})));
  }
  // Decompressed tensors cannot alias: they are converted to float32.
  auto t = torch::randn({64, 64});
  auto p = encode_tensor(t, wire::Compression::FLOAT16);
  const auto* begin = p.bytes.data();
  auto size = p.bytes.size();
  auto x = decode_tensor(std::move(p));
  CAF_REQUIRE(x);
  CAF_CHECK(!points_into(*x, begin, size));
}

CAF_TEST(NaN and infinities are rejected by default and pass with nan_policy allow) {
  wire_limits allow;
  allow.nans = nan_policy::allow;
  const double bad_values[] = {std::nan(""), std::numeric_limits<double>::infinity(),
                               -std::numeric_limits<double>::infinity()};
  for (auto type : float_dtypes) {
    for (auto value : bad_values) {
      auto t = filled(type, value);
      auto p = encode_tensor(t);
      auto [copied, aliased] = decode_both(p);
      if (outcome(copied) != "non_finite" || outcome(aliased) != "non_finite")
        CAF_ERROR(c10::toString(type) << " holding " << value << " was not rejected: "
                                      << outcome(copied) << ", " << outcome(aliased));
      auto [copied_ok, aliased_ok] = decode_both(p, allow);
      CAF_REQUIRE(copied_ok && aliased_ok);
      CAF_CHECK(same(*copied_ok, t));
      CAF_CHECK(same(*aliased_ok, t));
      CAF_CHECK_EQUAL(copied_ok->isfinite().logical_not().sum().item<int64_t>(), 1);
    }
  }
  // The same through float16 compression.
  auto t = filled(torch::kFloat32, std::nan(""));
  auto p = encode_tensor(t, wire::Compression::FLOAT16);
  CAF_CHECK_EQUAL(outcome(decode_tensor(p)), "non_finite");
  auto passed = decode_tensor(p, allow);
  CAF_REQUIRE(passed);
  CAF_CHECK(passed->index({1, 2}).isnan().item<bool>());
  // The largest finite values and integers whose bits look like NaN are fine.
  std::vector<torch::Tensor> finite{
    torch::full({8}, std::numeric_limits<float>::max()),
    torch::full({8}, std::numeric_limits<double>::lowest(), torch::kFloat64),
    torch::full({8}, 65504.0, torch::kFloat16),
    torch::full({8}, int64_t{0x7F800000}, torch::kInt32),
    torch::full({8}, int64_t{0x7FF8000000000000}, torch::kInt64),
    torch::full({8}, 255, torch::kUInt8)};
  for (const auto& x : finite) {
    auto back = decode_tensor(encode_tensor(x));
    CAF_CHECK_EQUAL(outcome(back), "ok");
  }
}

CAF_TEST(decode enforces the tensor byte and rank limits) {
  wire_limits small;
  small.max_tensor_bytes = 4096;
  auto at_limit = encode_tensor(torch::zeros({1024}));
  auto over = encode_tensor(torch::zeros({1025}));
  CAF_CHECK_EQUAL(outcome(decode_tensor(at_limit, small)), "ok");
  CAF_CHECK_EQUAL(outcome(decode_tensor(over, small)), "limit_exceeded");
  CAF_CHECK_EQUAL(outcome(decode_tensor(std::move(over), small)), "limit_exceeded");
  // Compressed tensors are measured as decoded (float32): 4 KiB on the wire, 8 KiB decoded.
  auto packed = encode_tensor(torch::zeros({1024}), wire::Compression::FLOAT16);
  CAF_CHECK_EQUAL(outcome(decode_tensor(packed, small)), "ok");
  auto packed_over = encode_tensor(torch::zeros({2048}), wire::Compression::FLOAT16);
  CAF_CHECK_EQUAL(outcome(decode_tensor(packed_over, small)), "limit_exceeded");
  std::vector<int64_t> rank8(default_max_tensor_rank, 1);
  std::vector<int64_t> rank9(default_max_tensor_rank + 1, 1);
  CAF_CHECK_EQUAL(outcome(decode_tensor(encode_tensor(torch::zeros(rank8)))), "ok");
  CAF_CHECK_EQUAL(outcome(decode_tensor(encode_tensor(torch::zeros(rank9)))), "limit_exceeded");
}

CAF_TEST(dtypes without a wire encoding cannot be encoded) {
  for (auto type : {torch::kInt16, torch::kInt8, torch::kComplexFloat}) {
    CAF_CHECK_EQUAL(outcome(to_wire_dtype(type)), "dtype_mismatch");
    auto t = torch::zeros({2}, type);
    bool threw = false;
    try {
      encode_tensor(t);
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    CAF_CHECK(threw);
  }
}

// -- expert codec ---------------------------------------------------------------------------------

#undef CAF_SUITE
#define CAF_SUITE messages.expert_codec

namespace {

template <class T>
const T* get_if(const caf::expected<expert_call>& x) {
  return x ? std::get_if<T>(&*x) : nullptr;
}

template <class T>
const T* get_if(const caf::expected<expert_reply>& x) {
  return x ? std::get_if<T>(&*x) : nullptr;
}

bool same_all(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!same(a[i], b[i]))
      return false;
  return true;
}

std::vector<torch::Tensor> zeros_list(size_t n) {
  return std::vector<torch::Tensor>(n, torch::zeros({2, 2}));
}

}  // namespace

CAF_TEST(a forward call round trips and its tensors alias the payload) {
  torch::manual_seed(10);
  forward_call call{"ffn.3.17", {torch::randn({32, 64}), sample(torch::kInt64, {32})}};
  auto p = encode(expert_call{call});
  const auto* begin = p.bytes.data();
  auto size = p.bytes.size();
  auto back = decode_expert_call(std::move(p));
  auto* fwd = get_if<forward_call>(back);
  CAF_REQUIRE(fwd != nullptr);
  CAF_CHECK_EQUAL(fwd->expert_id, "ffn.3.17");
  CAF_CHECK(same_all(fwd->inputs, call.inputs));
  CAF_CHECK(points_into(fwd->inputs[0], begin, size));
  CAF_CHECK(points_into(fwd->inputs[1], begin, size));
}

CAF_TEST(a backward call round trips) {
  torch::manual_seed(11);
  backward_call call{"expert_a.0", {torch::randn({8, 16}), torch::randn({8, 4})},
                     {torch::randn({8, 32})}};
  auto back = decode_expert_call(encode(expert_call{call}));
  auto* bwd = get_if<backward_call>(back);
  CAF_REQUIRE(bwd != nullptr);
  CAF_CHECK_EQUAL(bwd->expert_id, "expert_a.0");
  CAF_CHECK(same_all(bwd->inputs, call.inputs));
  CAF_CHECK(same_all(bwd->grad_outputs, call.grad_outputs));
  CAF_CHECK(get_if<forward_call>(back) == nullptr);
}

CAF_TEST(an info call round trips) {
  auto back = decode_expert_call(encode(expert_call{info_call{"moe-layer.12.0.7"}}));
  auto* info = get_if<info_call>(back);
  CAF_REQUIRE(info != nullptr);
  CAF_CHECK_EQUAL(info->expert_id, "moe-layer.12.0.7");
}

CAF_TEST(forward and backward replies round trip) {
  torch::manual_seed(12);
  forward_result fwd{{torch::randn({16, 8}), torch::randn({16}).to(torch::kBFloat16)}};
  auto fwd_back = decode_expert_reply(encode(expert_reply{fwd}));
  auto* f = get_if<forward_result>(fwd_back);
  CAF_REQUIRE(f != nullptr);
  CAF_CHECK(same_all(f->outputs, fwd.outputs));
  backward_result bwd{{torch::randn({16, 8}).to(torch::kFloat64)}};
  auto bwd_back = decode_expert_reply(encode(expert_reply{bwd}));
  auto* b = get_if<backward_result>(bwd_back);
  CAF_REQUIRE(b != nullptr);
  CAF_CHECK(same_all(b->grad_inputs, bwd.grad_inputs));
  // An empty output list is a valid reply.
  auto none = decode_expert_reply(encode(expert_reply{forward_result{}}));
  CAF_REQUIRE(get_if<forward_result>(none) != nullptr);
  CAF_CHECK(get_if<forward_result>(none)->outputs.empty());
}

CAF_TEST(an info reply round trips with its schemas) {
  expert_info info{"ffn.1.2",
                   "ffn",
                   {{torch::kFloat32, {-1, 1024}}, {torch::kInt64, {-1}}},
                   {{torch::kBFloat16, {-1, 1024}}}};
  auto back = decode_expert_reply(encode(expert_reply{info}));
  auto* i = get_if<expert_info>(back);
  CAF_REQUIRE(i != nullptr);
  CAF_CHECK_EQUAL(i->expert_id, "ffn.1.2");
  CAF_CHECK_EQUAL(i->expert_type, "ffn");
  CAF_REQUIRE_EQUAL(i->inputs.size(), 2u);
  CAF_REQUIRE_EQUAL(i->outputs.size(), 1u);
  CAF_CHECK(i->inputs[0].dtype == torch::kFloat32);
  CAF_CHECK(i->inputs[0].shape == (std::vector<int64_t>{-1, 1024}));
  CAF_CHECK(i->inputs[1].dtype == torch::kInt64);
  CAF_CHECK(i->inputs[1].shape == (std::vector<int64_t>{-1}));
  CAF_CHECK(i->outputs[0].dtype == torch::kBFloat16);
}

CAF_TEST(an error reply round trips with its code and message) {
  auto back = decode_expert_reply(
    encode(expert_reply{make_error(errc::unknown_expert, "no expert ffn.9.9 here")}));
  auto* err = get_if<caf::error>(back);
  CAF_REQUIRE(err != nullptr);
  CAF_CHECK_EQUAL(code_of(*err), errc::unknown_expert);
  CAF_CHECK_EQUAL(describe(*err), "unknown_expert: no expert ffn.9.9 here");
  // CAF's own errors travel as the nearest dmoe code.
  auto timeout = decode_expert_reply(encode(expert_reply{caf::make_error(caf::sec::request_timeout)}));
  CAF_REQUIRE(get_if<caf::error>(timeout) != nullptr);
  CAF_CHECK_EQUAL(code_of(*get_if<caf::error>(timeout)), errc::timeout);
}

CAF_TEST(float16 compression applies to the float32 tensors of a call) {
  torch::manual_seed(13);
  forward_call call{"ffn.0", {torch::randn({128, 64}), sample(torch::kInt64, {128})}};
  auto plain = encode(expert_call{call});
  auto packed = encode(expert_call{call}, wire::Compression::FLOAT16);
  CAF_CHECK_LESS(packed.bytes.size(), plain.bytes.size() * 3 / 4);
  auto back = decode_expert_call(std::move(packed));
  auto* fwd = get_if<forward_call>(back);
  CAF_REQUIRE(fwd != nullptr);
  CAF_CHECK(fwd->inputs[0].scalar_type() == torch::kFloat32);
  CAF_CHECK(torch::allclose(fwd->inputs[0], call.inputs[0], 1e-3, 1e-4));
  CAF_CHECK(same(fwd->inputs[1], call.inputs[1]));
}

CAF_TEST(invalid expert ids are rejected in every call and in info replies) {
  for (std::string id : {"", "ffn", "ffn.", "3ffn.1", "ffn.-1", "ffn..1", "ffn.1a", "f f.1",
                         "ffn.1234567890", "ffn.1/../2"}) {
    auto t = torch::zeros({2});
    CAF_CHECK_EQUAL(outcome(decode_expert_call(encode(expert_call{forward_call{id, {t}}}))),
                    "invalid_argument");
    CAF_CHECK_EQUAL(outcome(decode_expert_call(encode(expert_call{backward_call{id, {t}, {t}}}))),
                    "invalid_argument");
    CAF_CHECK_EQUAL(outcome(decode_expert_call(encode(expert_call{info_call{id}}))),
                    "invalid_argument");
    CAF_CHECK_EQUAL(outcome(decode_expert_reply(encode(expert_reply{expert_info{id, "ffn", {}, {}}}))),
                    "invalid_argument");
  }
  CAF_CHECK_EQUAL(outcome(decode_expert_call(encode(expert_call{info_call{"ffn.1"}}))), "ok");
}

CAF_TEST(too many tensors are rejected) {
  auto limit = default_max_tensors_per_call;
  auto at_limit = zeros_list(limit);
  auto over = zeros_list(limit + 1);
  CAF_CHECK_EQUAL(outcome(decode_expert_call(encode(expert_call{forward_call{"ffn.1", at_limit}}))),
                  "ok");
  CAF_CHECK_EQUAL(outcome(decode_expert_call(encode(expert_call{forward_call{"ffn.1", over}}))),
                  "limit_exceeded");
  CAF_CHECK_EQUAL(
    outcome(decode_expert_call(encode(expert_call{backward_call{"ffn.1", at_limit, over}}))),
    "limit_exceeded");
  CAF_CHECK_EQUAL(outcome(decode_expert_reply(encode(expert_reply{forward_result{over}}))),
                  "limit_exceeded");
  CAF_CHECK_EQUAL(outcome(decode_expert_reply(encode(expert_reply{backward_result{over}}))),
                  "limit_exceeded");
  std::vector<tensor_schema> schemas(limit + 1, tensor_schema{torch::kFloat32, {-1, 4}});
  CAF_CHECK_EQUAL(
    outcome(decode_expert_reply(encode(expert_reply{expert_info{"ffn.1", "ffn", schemas, {}}}))),
    "limit_exceeded");
  wire_limits two;
  two.max_tensors_per_call = 2;
  CAF_CHECK_EQUAL(
    outcome(decode_expert_call(encode(expert_call{forward_call{"ffn.1", zeros_list(3)}}), two)),
    "limit_exceeded");
}

CAF_TEST(a tensor over max_tensor_bytes is rejected) {
  wire_limits small;
  small.max_tensor_bytes = 1024;
  auto ok = torch::zeros({256});
  auto big = torch::zeros({257});
  CAF_CHECK_EQUAL(outcome(decode_expert_call(encode(expert_call{forward_call{"ffn.1", {ok}}}),
                                             small)),
                  "ok");
  CAF_CHECK_EQUAL(outcome(decode_expert_call(encode(expert_call{forward_call{"ffn.1", {ok, big}}}),
                                             small)),
                  "limit_exceeded");
  CAF_CHECK_EQUAL(outcome(decode_expert_reply(encode(expert_reply{backward_result{{big}}}), small)),
                  "limit_exceeded");
}

CAF_TEST(a rank over the limit is rejected in tensors and schemas) {
  std::vector<int64_t> rank9(default_max_tensor_rank + 1, 1);
  auto deep = torch::zeros(rank9);
  CAF_CHECK_EQUAL(outcome(decode_expert_call(encode(expert_call{forward_call{"ffn.1", {deep}}}))),
                  "limit_exceeded");
  CAF_CHECK_EQUAL(outcome(decode_expert_reply(encode(expert_reply{
                    expert_info{"ffn.1", "ffn", {{torch::kFloat32, rank9}}, {}}}))),
                  "limit_exceeded");
  wire_limits rank2;
  rank2.max_tensor_rank = 2;
  CAF_CHECK_EQUAL(outcome(decode_expert_call(
                    encode(expert_call{forward_call{"ffn.1", {torch::zeros({1, 1, 1})}}}), rank2)),
                  "limit_exceeded");
  // A schema dimension below -1 means nothing.
  CAF_CHECK_EQUAL(outcome(decode_expert_reply(encode(expert_reply{
                    expert_info{"ffn.1", "ffn", {}, {{torch::kFloat32, {-2, 4}}}}}))),
                  "invalid_argument");
}

CAF_TEST(encoding a call with an unsupported dtype throws) {
  bool threw = false;
  try {
    encode(expert_call{forward_call{"ffn.1", {torch::zeros({2}, torch::kInt16)}}});
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CAF_CHECK(threw);
}
