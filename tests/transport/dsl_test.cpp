// The expert protocol under CAF's deterministic test scheduler (transport.dsl): each request
// `(expert_rpc_atom, payload)` and each reply is checked with expect(...) as it is delivered.
#define CAF_SUITE transport.dsl

#include <string>

// LibTorch first: dsl.hpp defines a macro `expect` that would clash with c10's `expect` method.
#include <torch/types.h>

#include "tests/transport/doubling_expert.hpp"

#define FAIL(msg) CAF_FAIL(msg)
#include <caf/test/dsl.hpp>

namespace dmoe {

// Byte equality, so expect(...).with(...) can compare payloads.
bool operator==(const payload& x, const payload& y) {
  return x.bytes == y.bytes;
}

namespace test {

// Matches a reply payload that decodes to an error reply with `code`.
struct error_reply {
  errc code;
};

bool operator==(const payload& reply, const error_reply& expected) {
  auto decoded = decode_expert_reply(payload{reply});
  if (!decoded)
    return false;
  auto* err = std::get_if<caf::error>(&*decoded);
  return err != nullptr && code_of(*err) == expected.code;
}

std::string to_string(const error_reply& x) {
  return std::string("error reply ") + dmoe::to_string(x.code);
}

}  // namespace test

}  // namespace dmoe

using namespace dmoe;
using dmoe::test::error_reply;

namespace {

struct dsl_config : caf::actor_system_config {
  dsl_config() {
    register_types(*this);
  }
};

struct fixture : test_coordinator_fixture<dsl_config> {
  caf::actor expert;

  fixture() {
    expert = sys.spawn(dmoe::test::doubling_expert);
    sched.run();
  }

  // Sends `request` from `self` and checks both deliveries, ending with `expected` at self.
  template <class Expected>
  void round_trip(const payload& request, const Expected& expected) {
    self->request(expert, caf::infinite, expert_rpc_atom::value, request);
    expect((expert_rpc_atom, payload), from(self).to(expert).with(_, request));
    expect((payload), from(expert).to(self).with(expected));
  }
};

payload forward_request(const std::string& id, std::vector<torch::Tensor> inputs) {
  return encode(expert_call{forward_call{id, std::move(inputs)}});
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(transport_dsl_tests, fixture)

CAF_TEST(a forward call is answered with the doubled inputs) {
  torch::manual_seed(1);
  auto x = torch::randn({4, 8});
  auto y = torch::randn({3});
  auto expected = encode(expert_reply{forward_result{{x * 2, y * 2}}});
  // The expected reply really holds 2x and 2y.
  auto decoded = decode_expert_reply(payload{expected});
  CAF_REQUIRE(decoded && std::holds_alternative<forward_result>(*decoded));
  CAF_CHECK(torch::equal(std::get<forward_result>(*decoded).outputs[0], x * 2));
  round_trip(forward_request("ffn.0.1", {x, y}), expected);
  CAF_CHECK(!sched.has_job());
}

CAF_TEST(backward and info calls are answered) {
  auto x = torch::ones({2, 2});
  auto g = torch::full({2, 2}, 0.5);
  round_trip(encode(expert_call{backward_call{"ffn.0.1", {x}, {g}}}),
             encode(expert_reply{backward_result{{g * 2}}}));
  round_trip(encode(expert_call{info_call{"ffn.4.2"}}),
             encode(expert_reply{expert_info{"ffn.4.2",
                                             dmoe::test::doubling_expert_type,
                                             {{torch::kFloat32, {-1, -1}}},
                                             {{torch::kFloat32, {-1, -1}}}}}));
}

CAF_TEST(malformed payloads get error replies and the actor keeps serving) {
  auto x = torch::arange(6, torch::kFloat32).reshape({2, 3});
  auto good = forward_request("ffn.0.1", {x});
  auto truncated = good;
  truncated.bytes.resize(truncated.bytes.size() / 2 / 8 * 8);
  round_trip(payload{std::vector<char>(13, 'x')}, error_reply{errc::malformed});
  round_trip(payload{}, error_reply{errc::malformed});
  round_trip(truncated, error_reply{errc::malformed});
  round_trip(forward_request("not an id", {x}), error_reply{errc::invalid_argument});
  round_trip(forward_request("ffn.0.1", {torch::full({2}, std::nan(""))}),
             error_reply{errc::non_finite});
  round_trip(forward_request("ffn.0.1", {torch::ones({2}, torch::kInt64)}),
             error_reply{errc::dtype_mismatch});
  // Still alive and answering correctly.
  round_trip(good, encode(expert_reply{forward_result{{x * 2}}}));
  CAF_CHECK(!sched.has_job());
}

CAF_TEST(an error reply is not mistaken for a result) {
  // The matcher itself must be able to fail: a result is not an error reply.
  auto result = encode(expert_reply{forward_result{{torch::ones({1})}}});
  CAF_CHECK(!(result == error_reply{errc::malformed}));
  auto reply = encode(expert_reply{make_error(errc::malformed, "x")});
  CAF_CHECK(reply == error_reply{errc::malformed});
  CAF_CHECK(!(reply == error_reply{errc::invalid_argument}));
}

CAF_TEST(requests from two clients are answered to each) {
  caf::scoped_actor other{sys};
  auto a = forward_request("ffn.0.1", {torch::ones({2})});
  auto b = forward_request("ffn.0.2", {torch::full({2}, 3.0)});
  self->request(expert, caf::infinite, expert_rpc_atom::value, a);
  other->request(expert, caf::infinite, expert_rpc_atom::value, b);
  expect((expert_rpc_atom, payload), from(self).to(expert).with(_, a));
  expect((payload), from(expert).to(self).with(encode(expert_reply{forward_result{{torch::full({2}, 2.0)}}})));
  expect((expert_rpc_atom, payload), from(other).to(expert).with(_, b));
  expect((payload), from(expert).to(other).with(encode(expert_reply{forward_result{{torch::full({2}, 6.0)}}})));
}

CAF_TEST_FIXTURE_SCOPE_END()
