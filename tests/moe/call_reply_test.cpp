// moe.call_reply: the router's one decoder for the replies to its forward and backward calls.
#include <caf/test/unit_test.hpp>

#include <torch/types.h>

#include "actors/moe/call_reply.hpp"
#include "messages/errors.hpp"
#include "runtime/expert_codec.hpp"

using namespace dmoe;
using dmoe::moe::call_direction;
using dmoe::moe::decode_call_reply;

namespace {

caf::expected<torch::Tensor> decode(const expert_reply& reply, call_direction direction,
                                    std::vector<int64_t> shape) {
  return decode_call_reply(encode(reply), wire_limits{}, direction, shape);
}

errc code_if_failed(const caf::expected<torch::Tensor>& decoded) {
  return decoded ? errc::internal : code_of(decoded.error());
}

}  // namespace

#undef CAF_SUITE
#define CAF_SUITE moe.call_reply

CAF_TEST(a reply of the right direction and shape gives its tensor) {
  auto outputs = torch::randn({3, 5});
  auto fwd = decode(forward_result{{outputs}}, call_direction::forward, {3, 5});
  CAF_REQUIRE(fwd);
  CAF_CHECK(torch::equal(*fwd, outputs));
  auto grad = torch::randn({2, 7});
  auto bwd = decode(backward_result{{grad}}, call_direction::backward, {2, 7});
  CAF_REQUIRE(bwd);
  CAF_CHECK(torch::equal(*bwd, grad));
  CAF_CHECK(decode(forward_result{{outputs}}, call_direction::forward, {}));  // its job ended
  auto sequences = torch::randn({2, 4, 5});  // [rows, tokens, hidden]
  auto seq = decode(forward_result{{sequences}}, call_direction::forward, {2, 4, 5});
  CAF_REQUIRE(seq);
  CAF_CHECK(torch::equal(*seq, sequences));
}

CAF_TEST(an error from the server comes back as it was sent) {
  auto refused = decode(make_error(errc::overloaded, "too busy"), call_direction::forward, {1, 1});
  CAF_REQUIRE(!refused);
  CAF_CHECK_EQUAL(code_of(refused.error()), errc::overloaded);
  CAF_CHECK_NOT_EQUAL(describe(refused.error()).find("too busy"), std::string::npos);
}

CAF_TEST(another direction tensor count shape or dtype is refused) {
  auto t = torch::randn({3, 5});
  CAF_CHECK_EQUAL(code_if_failed(decode(backward_result{{t}}, call_direction::forward, {3, 5})),
                  errc::malformed);
  CAF_CHECK_EQUAL(code_if_failed(decode(forward_result{{t}}, call_direction::backward, {3, 5})),
                  errc::malformed);
  CAF_CHECK_EQUAL(code_if_failed(decode(forward_result{{t, t}}, call_direction::forward, {3, 5})),
                  errc::malformed);
  CAF_CHECK_EQUAL(code_if_failed(decode(forward_result{}, call_direction::forward, {3, 5})),
                  errc::malformed);
  CAF_CHECK_EQUAL(code_if_failed(decode(forward_result{{t}}, call_direction::forward, {4, 5})),
                  errc::shape_mismatch);
  CAF_CHECK_EQUAL(code_if_failed(decode(forward_result{{t}}, call_direction::forward, {3, 6})),
                  errc::shape_mismatch);
  CAF_CHECK_EQUAL(code_if_failed(decode(backward_result{{t.reshape({15})}},
                                        call_direction::backward, {15, 1})),
                  errc::shape_mismatch);
  CAF_CHECK_EQUAL(code_if_failed(decode(forward_result{{t.reshape({3, 5, 1})}},
                                        call_direction::forward, {3, 5})),
                  errc::shape_mismatch);
  CAF_CHECK_EQUAL(code_if_failed(decode(forward_result{{torch::randn({3, 4, 5})}},
                                        call_direction::forward, {3, 6, 5})),
                  errc::shape_mismatch);
  CAF_CHECK_EQUAL(code_if_failed(decode(forward_result{{t.to(torch::kFloat64)}},
                                        call_direction::forward, {3, 5})),
                  errc::shape_mismatch);
}

CAF_TEST(bytes that are no reply are refused) {
  payload junk;
  junk.bytes = std::vector<char>(64, 'x');
  auto decoded = decode_call_reply(junk, wire_limits{}, call_direction::forward, {1, 1});
  CAF_REQUIRE(!decoded);
  CAF_CHECK_NOT_EQUAL(code_of(decoded.error()), errc::internal);
}
