// The server across process boundaries' machinery: through a real middleman connection over
// loopback (server.remote: one actor system publishes the server on port 0, another connects
// with remote_actor), and its declarations in an in-process DHT swarm (server.declare).
#define CAF_SUITE server.remote
#include <caf/test/unit_test.hpp>

#include <thread>

#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>

#include "actors/dht/local_swarm.hpp"
#include "actors/dht/node_id.hpp"
#include "actors/dht/ownership.hpp"
#include "messages/declaration.hpp"
#include "runtime/logging.hpp"
#include "runtime/node_config.hpp"
#include "tests/server/server_test_util.hpp"

using namespace dmoe;
using namespace dmoe::test;

namespace {

constexpr int64_t h = small_hidden;
constexpr const char* loopback = "127.0.0.1";

struct two_systems {
  node_config cfg_a;
  node_config cfg_b;
  std::unique_ptr<caf::actor_system> a;
  std::unique_ptr<caf::actor_system> b;
  server_actor server;
  uint16_t port = 0;

  two_systems() {
    log::setup("warn");
    cfg_a.set("scheduler.max-threads", 2);
    cfg_b.set("scheduler.max-threads", 2);
    a = std::make_unique<caf::actor_system>(cfg_a);
    b = std::make_unique<caf::actor_system>(cfg_b);
    server_setup setup;
    setup.name = server_name;
    setup.options = small_options();
    auto spawned = try_spawn_server(*a, setup);
    CAF_REQUIRE(spawned);
    server = *spawned;
    auto published = a->middleman().publish(server, 0, loopback);
    CAF_REQUIRE(published);
    port = *published;
  }

  ~two_systems() {
    a->middleman().unpublish(server, port);
    caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
  }
};

}  // namespace

CAF_TEST(forward and backward over loopback TCP equal the local twin) {
  two_systems net;
  auto remote = net.b->middleman().remote_actor<server_actor>(loopback, net.port);
  CAF_REQUIRE(remote);
  CAF_CHECK((*remote).node() != net.b->node());
  auto options = small_options();
  auto twin = local_twin(options, "ffn.1.0");
  torch::manual_seed(5);
  auto x = torch::randn({32, h});
  auto g = torch::randn({32, h});
  auto y = tensors_of(call(*net.b, *remote, forward_call{"ffn.1.0", {x}}));
  CAF_REQUIRE_EQUAL(y.size(), 1u);
  CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(y[0], (*twin->forward({x}))[0]), 1e-5);
  auto dx = tensors_of(call(*net.b, *remote, backward_call{"ffn.1.0", {x}, {g}}));
  auto local_dx = twin->backward({x}, {g});
  CAF_REQUIRE(local_dx);
  CAF_REQUIRE_EQUAL(dx.size(), 1u);
  CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(dx[0], (*local_dx)[0]), 1e-5);
  auto probe = torch::randn({4, h});
  auto after = tensors_of(call(*net.b, *remote, forward_call{"ffn.1.0", {probe}}));
  CAF_REQUIRE_EQUAL(after.size(), 1u);
  CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(after[0], (*twin->forward({probe}))[0]), 1e-5);
  // Errors travel as replies too, and the server goes on serving remote callers.
  auto bad = call(*net.b, *remote, forward_call{"ffn.9.9", {probe}});
  CAF_CHECK_EQUAL(outcome(bad), "unknown_expert");
  auto wrong = call(*net.b, *remote, forward_call{"ffn.1.0", {torch::randn({4, h + 2})}});
  CAF_CHECK_EQUAL(outcome(wrong), "shape_mismatch");
  CAF_CHECK_EQUAL(outcome(call(*net.b, *remote, forward_call{"ffn.1.0", {probe}})), "ok");
}

#undef CAF_SUITE
#define CAF_SUITE server.declare

namespace {

constexpr size_t swarm_nodes = 6;
constexpr const char* server_endpoint = "127.0.0.1:7001";

caf::actor_system_config& swarm_config() {
  static node_config cfg;
  cfg.set("scheduler.max-threads", 2);
  return cfg;
}

dht_options swarm_options() {
  dht_options o;
  o.k = 4;
  o.request_timeout = std::chrono::seconds(2);
  o.replication_interval = std::chrono::hours(1);
  return o;
}

// Polls the server's stats until `done` holds for them (bounded in count and time).
template <class Predicate>
server_stats wait_for_stats(caf::actor_system& sys, const server_actor& server, Predicate done) {
  server_stats s;
  for (int i = 0; i < 200; ++i) {
    s = stats(sys, server);
    if (done(s))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return s;
}

}  // namespace

CAF_TEST(experts and their prefixes appear in the DHT and declaring stops on stop) {
  log::setup("warn");
  caf::actor_system sys{swarm_config()};
  dht::local_swarm swarm{sys, swarm_nodes, swarm_options()};
  auto options = small_options();
  options.declare_period = std::chrono::milliseconds(300);
  options.declare_ttl = std::chrono::seconds(30);
  server_setup setup;
  setup.name = server_name;
  setup.options = options;
  setup.dht = swarm.nodes[0];
  setup.endpoint = server_endpoint;
  auto before = dht::wall_clock();
  auto server = try_spawn_server(sys, setup);
  CAF_REQUIRE(server);
  // One item per prefix the experts share: ffn. (rows 0, 1), ffn.0. and ffn.1. (columns 0, 1).
  constexpr int64_t entries = 3;
  auto s = wait_for_stats(sys, *server, [](const server_stats& s) {
    return s.declare.done + s.declare.failed >= entries;
  });
  CAF_CHECK_GREATER_OR_EQUAL(s.declare.done, entries);
  CAF_CHECK_EQUAL(s.declare.failed, 0);
  CAF_CHECK_GREATER(s.declare.last_round_ms, 0.0);
  auto reader = swarm.nodes[swarm_nodes - 1];
  auto expect_declared = [&](const std::string& key, std::vector<int64_t> children, bool leaves) {
    auto found = dht::get(sys, reader, key);
    CAF_REQUIRE(found);
    auto* item = dht::find_label(found->items, std::string{server_endpoint} + "/0");  // "LABEL#<its key>"
    CAF_REQUIRE(item != nullptr);
    CAF_CHECK(dht::is_verified_owned(dht::key_id(key), *item));
    auto d = decode_declaration(item->value);
    CAF_REQUIRE(d);
    CAF_CHECK_EQUAL(d->endpoint, server_endpoint);
    CAF_CHECK_EQUAL(d->child_list(), children);
    CAF_CHECK_EQUAL(d->leaves, leaves);
    CAF_CHECK_GREATER(item->expiration, before + 29);
    CAF_CHECK_LESS(item->expiration, dht::wall_clock() + 31);
  };
  expect_declared("ffn.", {0, 1}, false);
  expect_declared("ffn.0.", {0, 1}, true);
  expect_declared("ffn.1.", {0, 1}, true);
  // Declarations repeat every period ...
  s = wait_for_stats(sys, *server, [](const server_stats& s) { return s.declare.rounds >= 2; });
  CAF_CHECK_GREATER_OR_EQUAL(s.declare.rounds, 2);
  // ... until the server is stopped.
  CAF_CHECK_EQUAL(stop(sys, *server), 0u);
  auto rounds = stats(sys, *server).declare.rounds;
  std::this_thread::sleep_for(options.declare_period * 3);  // three periods without a round
  CAF_CHECK_EQUAL(stats(sys, *server).declare.rounds, rounds);
  caf::anon_send_exit(*server, caf::exit_reason::user_shutdown);
}

CAF_TEST(an unreachable DHT only costs failed declarations) {
  log::setup("error");
  caf::actor_system sys{swarm_config()};
  auto options = small_options();
  options.declare_period = std::chrono::milliseconds(200);
  server_setup setup;
  setup.name = server_name;
  setup.options = options;
  // A DHT node that is already gone: every store fails, the server keeps serving.
  dht::node_setup dead_setup;
  setup.dht = dht::spawn_node(sys, dead_setup);
  caf::anon_send_exit(setup.dht, caf::exit_reason::kill);
  setup.endpoint = server_endpoint;
  auto server = try_spawn_server(sys, setup);
  CAF_REQUIRE(server);
  auto s = wait_for_stats(sys, *server, [](const server_stats& s) {
    return s.declare.failed >= 10;
  });
  CAF_CHECK_GREATER_OR_EQUAL(s.declare.failed, 10);
  auto x = torch::randn({2, h});
  CAF_CHECK_EQUAL(outcome(call(sys, *server, forward_call{"ffn.0.0", {x}})), "ok");
  caf::anon_send_exit(*server, caf::exit_reason::user_shutdown);
}
