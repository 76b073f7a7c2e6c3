// The expert protocol between two actor systems over loopback TCP (transport.remote). System A
// publishes the doubling expert on a free port; system B connects with remote_actor. The same
// check function runs once with A's local handle and once with B's remote handle: the replies
// must be identical, byte for byte. Both systems load the middleman and register dmoe's types
// through dmoe::node_config.
#define CAF_SUITE transport.remote
#include <caf/test/unit_test.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <torch/types.h>

#include "runtime/node_config.hpp"
#include "tests/transport/doubling_expert.hpp"

using namespace dmoe;

namespace {

constexpr auto request_timeout = std::chrono::seconds(10);
constexpr auto down_timeout = std::chrono::seconds(5);
constexpr auto dead_request_timeout = std::chrono::seconds(1);
constexpr const char* loopback = "127.0.0.1";
constexpr int64_t rows = 256;
constexpr int64_t cols = 1024;

// What one exchange produced: a description of the decoded reply (checked by the caller) and a
// digest of the reply's bytes (compared between the local and the remote run).
struct exchange {
  std::string reply;
  size_t digest = 0;
};

bool operator==(const exchange& x, const exchange& y) {
  return x.reply == y.reply && x.digest == y.digest;
}

std::string to_string(const exchange& x) {
  return x.reply + " #" + std::to_string(x.digest);
}

std::string describe_reply(payload reply, const torch::Tensor& input) {
  auto decoded = decode_expert_reply(std::move(reply));
  if (!decoded)
    return "undecodable reply: " + describe(decoded.error());
  if (auto* err = std::get_if<caf::error>(&*decoded))
    return std::string("error ") + to_string(code_of(*err));
  if (auto* fwd = std::get_if<forward_result>(&*decoded)) {
    if (fwd->outputs.size() != 1)
      return "forward with " + std::to_string(fwd->outputs.size()) + " outputs";
    const auto& y = fwd->outputs[0];
    bool doubled = y.sizes() == input.sizes() && torch::equal(y, input * 2);
    return std::string("forward ") + (doubled ? "2x input" : "WRONG values");
  }
  if (auto* info = std::get_if<expert_info>(&*decoded))
    return "info " + info->expert_id + " " + info->expert_type;
  return "backward";
}

// Sends `request` to `expert` from a scoped actor of `sys` and waits for the reply.
exchange call(caf::actor_system& sys, const caf::actor& expert, payload request,
              const torch::Tensor& input, caf::timespan timeout = request_timeout) {
  caf::scoped_actor self{sys};
  exchange out;
  self->request(expert, timeout, expert_rpc_atom::value, std::move(request))
    .receive(
      [&](payload& reply) {
        out.digest = std::hash<std::string_view>{}(
          std::string_view(reply.bytes.data(), reply.bytes.size()));
        out.reply = describe_reply(std::move(reply), input);
      },
      [&](caf::error& err) { out.reply = "request failed: " + describe(err); });
  return out;
}

// The check run against the local and the remote handle.
std::vector<exchange> exercise(caf::actor_system& sys, const caf::actor& expert) {
  torch::manual_seed(7);
  auto x = torch::randn({rows, cols});
  auto forward = encode(expert_call{forward_call{"ffn.0.1", {x}}});
  auto truncated = forward;
  truncated.bytes.resize(4096);
  std::vector<exchange> out;
  out.push_back(call(sys, expert, forward, x));
  out.push_back(call(sys, expert, payload{std::vector<char>(13, 'x')}, x));
  out.push_back(call(sys, expert, truncated, x));
  out.push_back(call(sys, expert, encode(expert_call{forward_call{"ffn", {x}}}), x));
  out.push_back(call(sys, expert, encode(expert_call{info_call{"ffn.0.1"}}), x));
  out.push_back(call(sys, expert, forward, x));  // still serving after the bad ones
  return out;
}

const std::vector<std::string> expected_replies{
  "forward 2x input", "error malformed", "error malformed", "error invalid_argument",
  "info ffn.0.1 doubling", "forward 2x input"};

std::vector<std::string> replies_of(const std::vector<exchange>& xs) {
  std::vector<std::string> out;
  for (const auto& x : xs)
    out.push_back(x.reply);
  return out;
}

// Two actor systems with the middleman; A hosts a published doubling expert.
struct two_nodes {
  node_config cfg_a;
  node_config cfg_b;
  caf::actor_system a{cfg_a};
  caf::actor_system b{cfg_b};
  caf::actor expert;
  uint16_t port = 0;

  two_nodes() {
    // Detached: the expert computes with LibTorch and must not block a scheduler thread.
    expert = a.spawn<caf::detached>(dmoe::test::doubling_expert);
    auto published = a.middleman().publish(expert, 0, loopback);
    CAF_REQUIRE(published);
    port = *published;
    CAF_REQUIRE_NOT_EQUAL(port, 0);
  }

  ~two_nodes() {
    // A published actor keeps its system alive: unpublish and stop it, or shutdown hangs.
    a.middleman().unpublish(expert, port);
    caf::anon_send_exit(expert, caf::exit_reason::user_shutdown);
  }

  caf::actor connect() {
    auto remote = b.middleman().remote_actor(loopback, port);
    CAF_REQUIRE(remote);
    return *remote;
  }
};

}  // namespace

CAF_TEST(local and remote handles give identical replies) {
  two_nodes nodes;
  auto local = exercise(nodes.a, nodes.expert);
  auto remote_handle = nodes.connect();
  CAF_CHECK(remote_handle.node() != nodes.b.node());
  CAF_CHECK(remote_handle.node() == nodes.a.node());
  auto remote = exercise(nodes.b, remote_handle);
  CAF_CHECK_EQUAL(replies_of(local), expected_replies);
  CAF_CHECK_EQUAL(replies_of(remote), expected_replies);
  CAF_REQUIRE_EQUAL(local.size(), remote.size());
  for (size_t i = 0; i < local.size(); ++i)
    CAF_CHECK_EQUAL(local[i], remote[i]);
  // Two forward calls with the same input give the same bytes.
  CAF_CHECK_EQUAL(local.front().digest, local.back().digest);
}

CAF_TEST(a monitor on a remote actor receives a down message when it is killed) {
  two_nodes nodes;
  auto remote = nodes.connect();
  caf::scoped_actor self{nodes.b};
  self->monitor(remote);
  // It answers before it is killed.
  auto before = call(nodes.b, remote, encode(expert_call{info_call{"ffn.0.1"}}), {});
  CAF_CHECK_EQUAL(before.reply, "info ffn.0.1 doubling");
  caf::anon_send_exit(nodes.expert, caf::exit_reason::kill);
  bool down = false;
  self->receive(
    [&](const caf::down_msg& msg) {
      down = true;
      CAF_CHECK(msg.source == remote.address());
      CAF_CHECK_EQUAL(msg.reason, caf::exit_reason::kill);
    },
    caf::after(down_timeout) >> [] {});
  CAF_CHECK(down);
  // Requests to the dead actor fail instead of hanging.
  auto after = call(nodes.b, remote, encode(expert_call{info_call{"ffn.0.1"}}), {},
                    dead_request_timeout);
  CAF_CHECK_EQUAL(after.reply.rfind("request failed", 0), 0u);
  CAF_MESSAGE("request to the killed actor: " << after.reply);
}
