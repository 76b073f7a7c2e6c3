// Malformed input (messages.bad_input) and a randomized mutation test (messages.fuzz) against
// every decoder: each must return a value or an error, never crash or throw. The suites share
// this file so that LibTorch's headers are compiled once.
#define CAF_SUITE messages.bad_input
#include <caf/test/unit_test.hpp>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/schema.h>
#include <torch/types.h>

#include "messages/dht_codec.hpp"
#include "runtime/expert_codec.hpp"
#include "messages/schema/dht.capnp.h"
#include "messages/schema/expert.capnp.h"
#include "runtime/tensor_codec.hpp"
#include "nesting.capnp.h"
#include "tests/messages/test_util.hpp"

using namespace dmoe;
using dmoe::test::outcome;

namespace {

// -- decoders under test --------------------------------------------------------------------------

// Reads every byte of a decoded tensor, so a tensor aliasing freed or foreign memory shows up
// (under a sanitizer, or as a crash) instead of passing unnoticed.
uint64_t touch(const torch::Tensor& t) {
  auto c = t.contiguous();
  const auto* p = static_cast<const uint8_t*>(c.data_ptr());
  uint64_t sum = 0;
  for (int64_t i = 0; i < c.numel() * c.element_size(); ++i)
    sum += p[i];
  return sum;
}

uint64_t touch(const std::vector<torch::Tensor>& ts) {
  uint64_t sum = 0;
  for (const auto& t : ts)
    sum += touch(t);
  return sum;
}

struct decoder {
  std::string name;
  // Decodes a copy of the payload (so rvalue decoders can be fed the same input) and returns
  // outcome(): "ok" or the error code's name. Decoded tensors are read in full.
  std::function<std::string(const payload&, const wire_limits&)> run;
};

dht::codec_limits dht_limits(const wire_limits& limits) {
  dht::codec_limits out;
  out.wire = limits;
  return out;
}

std::vector<decoder> all_decoders() {
  return {
    {"decode_request",
     [](const payload& p, const wire_limits& l) {
       return outcome(dht::decode_request(p, dht_limits(l)));
     }},
    {"decode_response",
     [](const payload& p, const wire_limits& l) {
       return outcome(dht::decode_response(p, dht_limits(l)));
     }},
    {"decode_expert_call",
     [](const payload& p, const wire_limits& l) {
       auto x = decode_expert_call(payload{p}, l);
       if (x) {
         if (auto* f = std::get_if<forward_call>(&*x))
           touch(f->inputs);
         if (auto* b = std::get_if<backward_call>(&*x))
           touch(b->inputs), touch(b->grad_outputs);
       }
       return outcome(x);
     }},
    {"decode_expert_reply",
     [](const payload& p, const wire_limits& l) {
       auto x = decode_expert_reply(payload{p}, l);
       if (x) {
         if (auto* f = std::get_if<forward_result>(&*x))
           touch(f->outputs);
         if (auto* b = std::get_if<backward_result>(&*x))
           touch(b->grad_inputs);
       }
       return outcome(x);
     }},
    {"decode_tensor(const payload&)",
     [](const payload& p, const wire_limits& l) {
       auto x = decode_tensor(p, l);
       if (x)
         touch(*x);
       return outcome(x);
     }},
    {"decode_tensor(payload&&)",
     [](const payload& p, const wire_limits& l) {
       auto x = decode_tensor(payload{p}, l);
       if (x)
         touch(*x);
       return outcome(x);
     }},
  };
}

dht::node_info node(uint8_t seed) {
  dht::node_info out;
  out.id.fill(seed);
  out.endpoint = "127.0.0." + std::to_string(seed) + ":4000";
  return out;
}

// Valid messages for each decoder, in the order of all_decoders().
std::vector<std::vector<payload>> all_seeds() {
  torch::manual_seed(42);
  auto small = torch::randn({4, 4});
  auto ints = torch::arange(6, torch::kInt64);
  auto large = torch::randn({32, 40});  // above the encoder's external-data threshold
  std::vector<dht::item> items{{"", "value", 1.7e9}, {"sub", std::string(40, 'x'), 1.8e9}};
  std::vector<payload> requests{
    dht::encode(dht::request{node(1), dht::ping_request{}}),
    dht::encode(dht::request{node(1), dht::store_request{node(2).id, items}}),
    dht::encode(dht::request{node(1), dht::find_node_request{node(3).id}}),
    dht::encode(dht::request{node(1), dht::find_value_request{node(4).id}}),
  };
  std::vector<payload> responses{
    dht::encode(dht::response{node(5), dht::pong{}}),
    dht::encode(dht::response{node(5), dht::store_result{{true, false}}}),
    dht::encode(dht::response{node(5), dht::find_node_result{{node(6), node(7)}}}),
    dht::encode(dht::response{node(5), dht::find_value_result{items, {node(8)}}}),
    dht::encode(dht::response{node(5), make_error(errc::not_found, "nothing here")}),
  };
  std::vector<payload> calls{
    encode(expert_call{forward_call{"ffn.1.2", {small, ints}}}),
    encode(expert_call{forward_call{"ffn.1.2", {large}}}),
    encode(expert_call{backward_call{"ffn.1.2", {small}, {small}}}),
    encode(expert_call{info_call{"ffn.1.2"}}),
    encode(expert_call{forward_call{"ffn.1.2", {small}}}, wire::Compression::FLOAT16),
  };
  std::vector<payload> replies{
    encode(expert_reply{forward_result{{small, ints}}}),
    encode(expert_reply{backward_result{{large}}}),
    encode(expert_reply{expert_info{"ffn.1.2", "ffn", {{torch::kFloat32, {-1, 4}}},
                                    {{torch::kInt64, {-1}}}}}),
    encode(expert_reply{make_error(errc::unknown_expert, "no such expert")}),
  };
  std::vector<payload> tensors{
    encode_tensor(small),
    encode_tensor(ints),
    encode_tensor(large),
    encode_tensor(torch::tensor(true)),
    encode_tensor(small.to(torch::kBFloat16)),
    encode_tensor(small, wire::Compression::FLOAT16),
  };
  return {requests, responses, calls, replies, tensors, tensors};
}

// -- hand-built messages --------------------------------------------------------------------------

void set_data(wire::Tensor::Builder t, size_t bytes) {
  std::vector<kj::byte> zeros(bytes);
  t.setData(capnp::Data::Reader(zeros.data(), zeros.size()));
}

// A float32 tensor with the given shape and `bytes` of data, as a root or inside a forward call.
payload raw_tensor(std::vector<int64_t> shape, size_t bytes,
                   wire::DType dtype = wire::DType::FLOAT32,
                   wire::Compression compression = wire::Compression::NONE) {
  capnp::MallocMessageBuilder message;
  auto t = message.initRoot<wire::Tensor>();
  t.setDtype(dtype);
  t.setCompression(compression);
  auto s = t.initShape(static_cast<unsigned>(shape.size()));
  for (unsigned i = 0; i < shape.size(); ++i)
    s.set(i, shape[i]);
  set_data(t, bytes);
  return to_payload(message);
}

payload raw_call(std::vector<int64_t> shape, size_t bytes,
                 wire::DType dtype = wire::DType::FLOAT32) {
  capnp::MallocMessageBuilder message;
  auto fwd = message.initRoot<wire::ExpertRequest>().initForward();
  fwd.setExpertId("ffn.1");
  auto t = fwd.initInputs(1)[0];
  t.setDtype(dtype);
  auto s = t.initShape(static_cast<unsigned>(shape.size()));
  for (unsigned i = 0; i < shape.size(); ++i)
    s.set(i, shape[i]);
  set_data(t, bytes);
  return to_payload(message);
}

// Outcome of both tensor decoders and the expert-call decoder on the same bad tensor.
std::vector<std::string> tensor_outcomes(std::vector<int64_t> shape, size_t bytes,
                                         wire::DType dtype = wire::DType::FLOAT32) {
  auto p = raw_tensor(shape, bytes, dtype);
  return {outcome(decode_tensor(p)), outcome(decode_tensor(payload{p})),
          outcome(decode_expert_call(raw_call(shape, bytes, dtype)))};
}

std::vector<std::string> three(const char* code) {
  return {code, code, code};
}

// Sets the root's union discriminant to `value`, which no decoder knows.
template <class Root>
payload with_discriminant(capnp::MallocMessageBuilder& message, uint16_t value) {
  auto offset = capnp::Schema::from<Root>().getProto().getStruct().getDiscriminantOffset();
  auto data = message.getRoot<capnp::AnyStruct>().getDataSection();
  CAF_REQUIRE_GREATER_OR_EQUAL(data.size(), (offset + 1) * sizeof(uint16_t));
  std::memcpy(data.begin() + offset * sizeof(uint16_t), &value, sizeof(value));
  return to_payload(message);
}

// A chain of `depth` Nested structs below the root.
payload nested(uint32_t depth) {
  capnp::MallocMessageBuilder message;
  auto level = message.initRoot<test_wire::Nested>();
  for (uint32_t i = 1; i <= depth; ++i) {
    level = level.initChild();
    level.setDepth(i);
  }
  return to_payload(message);
}

// Walks a Nested chain to its end through message_view (dmoe::decode) and returns its depth.
caf::expected<uint32_t> walk(const payload& p, const wire_limits& limits) {
  return decode<test_wire::Nested>(p, limits, [](test_wire::Nested::Reader r) {
    uint32_t depth = 0;
    while (r.hasChild()) {
      r = r.getChild();
      ++depth;
    }
    return caf::expected<uint32_t>{depth};
  });
}

}  // namespace

CAF_TEST(empty ragged and oversized payloads are rejected by every decoder) {
  auto seeds = all_seeds();
  auto decoders = all_decoders();
  wire_limits tight;
  tight.max_message_bytes = 64;
  for (size_t i = 0; i < decoders.size(); ++i) {
    const auto& d = decoders[i];
    CAF_MESSAGE(d.name);
    CAF_CHECK_EQUAL(d.run(payload{}, {}), "malformed");
    for (size_t size : {1, 7, 9, 15, 100}) {
      payload ragged{std::vector<char>(size, 0)};
      CAF_CHECK_EQUAL(d.run(ragged, {}), "malformed");
    }
    // Eight zero bytes: a segment table for one empty segment and no root pointer.
    payload zero_words{std::vector<char>(8, 0)};
    CAF_CHECK_NOT_EQUAL(d.run(zero_words, {}), "ok");
    // The largest seed exceeds 64 bytes.
    const auto& big = seeds[i].back().bytes.size() > 64 ? seeds[i].back() : seeds[i][1];
    CAF_REQUIRE_GREATER(big.bytes.size(), 64u);
    CAF_CHECK_EQUAL(d.run(big, {}), "ok");
    CAF_CHECK_EQUAL(d.run(big, tight), "limit_exceeded");
  }
}

CAF_TEST(every truncation is rejected) {
  auto seeds = all_seeds();
  auto decoders = all_decoders();
  size_t tried = 0;
  for (size_t i = 0; i < decoders.size(); ++i) {
    for (const auto& seed : seeds[i]) {
      CAF_REQUIRE_EQUAL(decoders[i].run(seed, {}), "ok");
      for (size_t size = 8; size < seed.bytes.size(); size += 8) {
        payload cut{std::vector<char>(seed.bytes.begin(), seed.bytes.begin() + size)};
        auto got = decoders[i].run(cut, {});
        if (got != "malformed")
          CAF_ERROR(decoders[i].name << " accepted a truncation to " << size << " of "
                                     << seed.bytes.size() << " bytes: " << got);
        ++tried;
      }
    }
  }
  CAF_CHECK_GREATER(tried, 500u);
}

CAF_TEST(single bit flips give a value or an error) {
  auto seeds = all_seeds();
  auto decoders = all_decoders();
  for (size_t i = 0; i < decoders.size(); ++i) {
    size_t ok = 0;
    size_t rejected = 0;
    const auto& seed = seeds[i].front();
    for (size_t bit = 0; bit < seed.bytes.size() * 8; ++bit) {
      auto flipped = seed;
      flipped.bytes[bit / 8] ^= static_cast<char>(1 << (bit % 8));
      (decoders[i].run(flipped, {}) == "ok" ? ok : rejected) += 1;
    }
    CAF_MESSAGE(decoders[i].name << ": " << ok << " flips decoded, " << rejected << " rejected");
    CAF_CHECK_GREATER(ok, 0u);
    CAF_CHECK_GREATER(rejected, 0u);
  }
}

CAF_TEST(a tensor whose data does not match its shape is rejected) {
  CAF_CHECK_EQUAL(tensor_outcomes({4, 4}, 64), three("ok"));
  CAF_CHECK_EQUAL(tensor_outcomes({4, 4}, 60), three("shape_mismatch"));
  CAF_CHECK_EQUAL(tensor_outcomes({4, 4}, 68), three("shape_mismatch"));
  CAF_CHECK_EQUAL(tensor_outcomes({4, 4}, 0), three("shape_mismatch"));
  CAF_CHECK_EQUAL(tensor_outcomes({}, 8, wire::DType::FLOAT64), three("ok"));
  CAF_CHECK_EQUAL(tensor_outcomes({}, 4, wire::DType::FLOAT64), three("shape_mismatch"));
  CAF_CHECK_EQUAL(tensor_outcomes({3, 0}, 4), three("shape_mismatch"));
  // A compressed tensor holds float16 halves: 2 bytes per element, not 4.
  auto packed = raw_tensor({4}, 16, wire::DType::FLOAT32, wire::Compression::FLOAT16);
  CAF_CHECK_EQUAL(outcome(decode_tensor(packed)), "shape_mismatch");
  packed = raw_tensor({4}, 8, wire::DType::FLOAT32, wire::Compression::FLOAT16);
  CAF_CHECK_EQUAL(outcome(decode_tensor(packed)), "ok");
}

CAF_TEST(an unknown dtype or compression is rejected) {
  auto unknown = static_cast<wire::DType>(99);
  CAF_CHECK_EQUAL(tensor_outcomes({4}, 16, unknown), three("malformed"));
  CAF_CHECK_EQUAL(tensor_outcomes({4}, 16, static_cast<wire::DType>(8)), three("malformed"));
  auto p = raw_tensor({4}, 16, wire::DType::FLOAT32, static_cast<wire::Compression>(7));
  CAF_CHECK_EQUAL(outcome(decode_tensor(p)), "malformed");
  CAF_CHECK_EQUAL(outcome(decode_tensor(std::move(p))), "malformed");
  // float16 compression is defined for float32 only.
  p = raw_tensor({4}, 8, wire::DType::INT64, wire::Compression::FLOAT16);
  CAF_CHECK_EQUAL(outcome(decode_tensor(p)), "invalid_argument");
  // Unknown dtypes in an expert's schemas.
  capnp::MallocMessageBuilder message;
  auto info = message.initRoot<wire::ExpertResponse>().initInfo();
  info.setExpertId("ffn.1");
  info.initInputs(1)[0].setDtype(unknown);
  CAF_CHECK_EQUAL(outcome(decode_expert_reply(to_payload(message))), "malformed");
}

CAF_TEST(negative dimensions are rejected) {
  CAF_CHECK_EQUAL(tensor_outcomes({4, -1}, 0), three("invalid_argument"));
  CAF_CHECK_EQUAL(tensor_outcomes({-4, -1}, 16), three("invalid_argument"));
  CAF_CHECK_EQUAL(tensor_outcomes({0, std::numeric_limits<int64_t>::min()}, 0),
                  three("invalid_argument"));
}

CAF_TEST(dimension products that overflow are rejected) {
  constexpr auto max = std::numeric_limits<int64_t>::max();
  CAF_CHECK_EQUAL(tensor_outcomes({int64_t{1} << 32, int64_t{1} << 32}, 0),
                  three("limit_exceeded"));
  CAF_CHECK_EQUAL(tensor_outcomes({max, max}, 0), three("limit_exceeded"));
  CAF_CHECK_EQUAL(tensor_outcomes({int64_t{1} << 62, 4}, 16), three("limit_exceeded"));
  CAF_CHECK_EQUAL(tensor_outcomes({2, 2, 2, 2, 2, 2, 2, max}, 0), three("limit_exceeded"));
  // A zero dimension must not hide huge ones: each dimension is checked on its own.
  CAF_CHECK_EQUAL(tensor_outcomes({0, max, max}, 0), three("limit_exceeded"));
  // 2^61 elements of 8 bytes wrap a 64-bit byte count to 0: still too large.
  CAF_CHECK_EQUAL(tensor_outcomes({int64_t{1} << 61}, 0, wire::DType::FLOAT64),
                  three("limit_exceeded"));
}

CAF_TEST(an unknown union member is rejected) {
  {
    capnp::MallocMessageBuilder m;
    m.initRoot<wire::DhtRequest>().initSender().setNodeId(
      capnp::Data::Reader(node(1).id.data(), node(1).id.size()));
    CAF_CHECK_EQUAL(outcome(dht::decode_request(with_discriminant<wire::DhtRequest>(m, 0))), "ok");
    CAF_CHECK_EQUAL(outcome(dht::decode_request(with_discriminant<wire::DhtRequest>(m, 77))),
                    "malformed");
  }
  {
    capnp::MallocMessageBuilder m;
    m.initRoot<wire::DhtResponse>().initResponder().setNodeId(
      capnp::Data::Reader(node(1).id.data(), node(1).id.size()));
    CAF_CHECK_EQUAL(outcome(dht::decode_response(with_discriminant<wire::DhtResponse>(m, 77))),
                    "malformed");
  }
  {
    capnp::MallocMessageBuilder m;
    m.initRoot<wire::ExpertRequest>().initInfo().setExpertId("ffn.1");
    CAF_CHECK_EQUAL(outcome(decode_expert_call(with_discriminant<wire::ExpertRequest>(m, 2))),
                    "ok");
    CAF_CHECK_EQUAL(outcome(decode_expert_call(with_discriminant<wire::ExpertRequest>(m, 3))),
                    "malformed");
  }
  {
    capnp::MallocMessageBuilder m;
    m.initRoot<wire::ExpertResponse>().initForward(0);
    CAF_CHECK_EQUAL(outcome(decode_expert_reply(with_discriminant<wire::ExpertResponse>(m, 4))),
                    "malformed");
  }
}

CAF_TEST(a bad segment table is rejected) {
  auto good = encode_tensor(torch::zeros({4}));
  auto decoders = all_decoders();
  // Overwrites the segment table's leading 32-bit fields: segment count - 1, then sizes.
  auto with_table = [&](std::vector<uint32_t> fields) {
    auto p = good;
    std::memcpy(p.bytes.data(), fields.data(), fields.size() * sizeof(uint32_t));
    return p;
  };
  for (const auto& d : decoders) {
    CAF_CHECK_EQUAL(d.run(with_table({0xFFFFFFFFu, 1}), {}), "malformed");   // 2^32 segments
    CAF_CHECK_EQUAL(d.run(with_table({600, 1}), {}), "malformed");          // over capnp's 512
    CAF_CHECK_EQUAL(d.run(with_table({0, 0x7FFFFFFFu}), {}), "malformed");  // past the end
    CAF_CHECK_EQUAL(d.run(with_table({1, 1, 0x7FFFFFFFu}), {}), "malformed");
  }
}

CAF_TEST(deep nesting hits the nesting limit instead of crashing) {
  wire_limits limits;  // max_nesting 16
  auto shallow = walk(nested(8), limits);
  CAF_REQUIRE(shallow);
  CAF_CHECK_EQUAL(*shallow, 8u);
  // The limit counts the root as well: the deepest chain that fits is max_nesting - 1 below it.
  CAF_CHECK_EQUAL(outcome(walk(nested(limits.max_nesting - 1), limits)), "ok");
  CAF_CHECK_EQUAL(outcome(walk(nested(limits.max_nesting), limits)), "malformed");
  auto deep = nested(1000);
  auto rejected = walk(deep, limits);
  CAF_CHECK_EQUAL(outcome(rejected), "malformed");
  if (!rejected)
    CAF_MESSAGE(describe(rejected.error()));
  CAF_CHECK_NOT_EQUAL(describe(rejected.error()).find("nested"), std::string::npos);
  // The limit is the configured one.
  wire_limits generous;
  generous.max_nesting = 2000;
  auto accepted = walk(deep, generous);
  CAF_REQUIRE(accepted);
  CAF_CHECK_EQUAL(*accepted, 1000u);
  // dmoe's decoders, handed the deep message, return errors.
  for (const auto& d : all_decoders())
    CAF_CHECK_NOT_EQUAL(d.run(deep, limits), "ok");
}

// -- randomized mutations ---------------------------------------------------------------------

#undef CAF_SUITE
#define CAF_SUITE messages.fuzz

namespace {

constexpr uint64_t fuzz_seed = 20240601;
constexpr size_t default_mutations_per_decoder = 4000;

// DMOE_FUZZ_MUTATIONS=n runs a longer (or shorter) campaign, e.g. under a sanitizer build.
size_t mutations_per_decoder() {
  if (const char* env = std::getenv("DMOE_FUZZ_MUTATIONS"))
    if (auto n = std::strtoull(env, nullptr, 10); n > 0)
      return static_cast<size_t>(n);
  return default_mutations_per_decoder;
}

using rng_type = std::mt19937_64;

size_t pick(rng_type& rng, size_t n) {
  return static_cast<size_t>(rng() % n);
}

// Whole words keep the payload's size valid so the mutation reaches Cap'n Proto; a quarter of
// the size-changing mutations leave ragged sizes.
size_t maybe_ragged(rng_type& rng, size_t size) {
  return pick(rng, 4) == 0 ? size : size / 8 * 8;
}

payload mutate(const payload& a, const payload& b, rng_type& rng, std::string& kind) {
  auto out = a;
  auto& bytes = out.bytes;
  switch (pick(rng, 6)) {
    case 0: {
      kind = "bit flips";
      for (size_t n = 1 + pick(rng, 4); n > 0; --n)
        bytes[pick(rng, bytes.size())] ^= static_cast<char>(1 << pick(rng, 8));
      break;
    }
    case 1: {
      kind = "byte overwrites";
      for (size_t n = 1 + pick(rng, 8); n > 0; --n)
        bytes[pick(rng, bytes.size())] = static_cast<char>(rng());
      break;
    }
    case 2: {
      // A random 64-bit word at a word boundary: pointers, segment sizes, list counts.
      kind = "word overwrite";
      auto word = pick(rng, bytes.size() / 8);
      uint64_t value = rng();
      if (pick(rng, 2) == 0)
        value &= 0xFFFFFFFFull;  // small offsets and counts are more interesting
      std::memcpy(bytes.data() + word * 8, &value, 8);
      break;
    }
    case 3: {
      kind = "truncation";
      bytes.resize(maybe_ragged(rng, pick(rng, bytes.size())));
      break;
    }
    case 4: {
      kind = "appended junk";
      auto n = maybe_ragged(rng, 1 + pick(rng, 64));
      for (size_t i = 0; i < n; ++i)
        bytes.push_back(static_cast<char>(rng()));
      break;
    }
    default: {
      kind = "splice";
      auto cut_a = maybe_ragged(rng, pick(rng, a.bytes.size() + 1));
      auto cut_b = pick(rng, b.bytes.size() + 1) / 8 * 8;
      bytes.assign(a.bytes.begin(), a.bytes.begin() + cut_a);
      bytes.insert(bytes.end(), b.bytes.begin() + cut_b, b.bytes.end());
      break;
    }
  }
  return out;
}

}  // namespace

CAF_TEST(mutated messages give a value or an error from every decoder) {
  auto seeds = all_seeds();
  auto decoders = all_decoders();
  rng_type rng{fuzz_seed};
  auto mutations = mutations_per_decoder();
  for (size_t i = 0; i < decoders.size(); ++i) {
    const auto& d = decoders[i];
    size_t ok = 0;
    size_t threw = 0;
    std::map<std::string, size_t> errors;
    std::map<std::string, size_t> ok_by_kind;
    for (size_t n = 0; n < mutations; ++n) {
      const auto& a = seeds[i][pick(rng, seeds[i].size())];
      const auto& b = seeds[i][pick(rng, seeds[i].size())];
      std::string kind;
      auto input = mutate(a, b, rng, kind);
      try {
        auto got = d.run(input, {});
        if (got == "ok") {
          ++ok;
          ++ok_by_kind[kind];
        } else {
          ++errors[got];
        }
      } catch (const std::exception& e) {
        ++threw;
        CAF_MESSAGE(d.name << " threw on a " << kind << " mutation: " << e.what());
      } catch (...) {
        ++threw;
        CAF_MESSAGE(d.name << " threw a non-std exception on a " << kind << " mutation");
      }
    }
    size_t rejected = 0;
    std::string histogram;
    for (const auto& [code, count] : errors) {
      rejected += count;
      histogram += " " + code + "=" + std::to_string(count);
    }
    std::string accepted;
    for (const auto& [kind, count] : ok_by_kind)
      accepted += " " + kind + "=" + std::to_string(count);
    CAF_MESSAGE(d.name << ": " << mutations << " mutations, " << ok << " decoded ("
                       << accepted << " ), " << rejected << " rejected (" << histogram
                       << " ), " << threw << " threw");
    CAF_CHECK_EQUAL(threw, 0u);
    CAF_CHECK_GREATER(ok, 0u);
    CAF_CHECK_GREATER(rejected, 0u);
    CAF_CHECK_EQUAL(ok + rejected + threw, mutations);
    // Mutations that break Cap'n Proto's framing must be among the rejected.
    CAF_CHECK_GREATER(errors["malformed"], 0u);
  }
}
