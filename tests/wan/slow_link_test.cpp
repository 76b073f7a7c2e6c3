// wan.slow_link: expert calls over a bandwidth-capped link (dmoe-link at 2 Mbit/s on loopback)
// whose every transfer takes longer than the middleman's connection timeout (500 ms here).
// CAF 0.17 counts a peer as alive only when a whole message has arrived, so one big message
// would get the connection cut; dmoe sends big calls and replies in parts (messages/parts.hpp).
// The test shows both: in parts the forward and backward succeed and the server never goes
// down; with parts turned off on the trainer's side, the same call loses the connection.
#define CAF_SUITE wan.slow_link
#include <caf/test/unit_test.hpp>

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <torch/types.h>

#include "actors/dht/client.hpp"
#include "actors/dht/node.hpp"
#include "actors/moe/remote_moe.hpp"
#include "actors/moe/router.hpp"
#include "messages/type_ids.hpp"
#include "runtime/node_config.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;
using namespace std::chrono_literals;

namespace {

constexpr int64_t width = 256;
constexpr int64_t batch = 256;  // 256 KiB of activations: ~1.05 s each way at 2 Mbit/s
constexpr const char* link_rate = "2mbit";
constexpr const char* connection_timeout = "500ms";

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

struct slow_link_fixture {
  std::string dir = temp_dir("slow-link");
  process link;
  process server;
  uint16_t link_port = free_port();
  uint16_t server_port = free_port();
  node_config cfg;
  std::unique_ptr<caf::actor_system> system;
  dht::node_actor dht_node;

  slow_link_fixture() {
    link = launch({DMOE_LINK_BINARY, "--listen", "127.0.0.1:" + std::to_string(link_port),
                   "--target", "127.0.0.1:" + std::to_string(server_port), "--rate", link_rate},
                  dir + "/link.log");
    CAF_REQUIRE(wait_listening(link_port, 10s));
    auto advertised = "127.0.0.1:" + std::to_string(link_port);
    server = launch({DMOE_NODE_BINARY, "--node.name=\"slow-server\"",
                     "--node.roles=[\"dht\",\"server\"]",
                     "--node.port=" + std::to_string(server_port),
                     "--node.advertise=\"" + advertised + "\"",
                     "--server.expert-pattern=\"ffn.[0:1].[0:1]\"",
                     "--server.hidden=" + std::to_string(width), "--server.declare-period=1s",
                     "--server.declare-ttl=30s", "--server.torch-threads=1",
                     std::string{"--middleman.connection-timeout="} + connection_timeout,
                     "--middleman.heartbeat-interval=100ms"},
                    dir + "/server.log");
    CAF_REQUIRE(wait_listening(server_port, 20s));
    CAF_REQUIRE(!cfg.parse_and_validate(std::vector<std::string>{
      std::string{"--middleman.connection-timeout="} + connection_timeout,
      "--middleman.heartbeat-interval=100ms"}));
    system = std::make_unique<caf::actor_system>(cfg);
    // A DHT node that tells no endpoint: the server never dials this process, so every byte
    // between the two crosses the link.
    dht::node_setup setup;
    setup.name = "slow-test/dht";
    setup.options.bootstrap = {advertised};
    dht_node = dht::spawn_node(*system, std::move(setup));
    caf::scoped_actor self{*system};
    self->request(dht_node, 20s, dht::dht_start_atom::value, std::string{})
      .receive([](uint32_t) {}, [](caf::error&) {});
    CAF_REQUIRE(poll_until(
      [&] {
        return dht::declared_children(*system, dht_node, "ffn.0.", 5s) > 0;
      },
      20000ms, 200ms));
  }

  ~slow_link_fixture() {
    caf::anon_send_exit(dht_node, caf::exit_reason::user_shutdown);
    system.reset();
    for (auto* p : {&server, &link}) {
      kill(p->pid, SIGTERM);
      if (wait_exit(p->pid, 10000ms) < 0)
        kill(p->pid, SIGKILL);
    }
  }

  moe::router_actor make_router(uint64_t part_bytes) {
    moe::router_setup setup;
    setup.name = "slow-test";
    setup.options.grid = {1, 1};
    setup.options.k_best = 1;
    setup.options.forward_timeout = 30s;
    setup.options.backward_timeout = 30s;
    setup.limits.part_bytes = part_bytes;
    setup.dht = dht_node;
    return moe::spawn_router(*system, setup);
  }

  size_t dead_servers(const moe::router_actor& router) {
    caf::scoped_actor self{*system};
    moe::router_stats stats;
    self->request(router, 10s, stats_atom::value)
      .receive([&](moe::router_stats& s) { stats = std::move(s); }, [](caf::error&) {});
    return stats.dead_servers.size();
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(slow_link_tests, slow_link_fixture)

CAF_TEST(calls in parts outlast the connection timeout on a capped link) {
  auto router = make_router(default_part_bytes);
  moe_options opt;
  opt.grid = {1, 1};
  opt.k_best = 1;
  opt.forward_timeout = 30s;
  opt.backward_timeout = 30s;
  torch::manual_seed(3);
  RemoteMixtureOfExperts layer{*system, router, width, width, opt};
  auto x = torch::randn({batch, width}).requires_grad_(true);
  auto started = clock_type::now();
  torch::Tensor y;
  std::string failure;
  try {
    y = layer->forward(x);
    y.pow(2).mean().backward();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  auto took = seconds_since(started);
  CAF_MESSAGE("forward + backward of " << batch << " x " << width << " floats took " << took
                                       << " s through the " << link_rate << " link");
  CAF_REQUIRE_EQUAL(failure, "");
  CAF_CHECK_EQUAL(layer->report().answered_slots, static_cast<size_t>(batch));
  CAF_CHECK(x.grad().defined() && x.grad().abs().sum().item<double>() > 0);
  // Four transfers of >= 256 KiB at 2 Mbit/s: each alone outlasts the 500 ms timeout.
  CAF_CHECK_GREATER(took, 4.0);
  CAF_CHECK_EQUAL(dead_servers(router), 0u);
  CAF_CHECK_EQUAL(wait_exit(server.pid, 1ms), -1);  // still running
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
}

CAF_TEST(one big message loses the connection on the same link) {
  auto router = make_router(uint64_t{64} << 20);  // parts off on this side
  moe_options opt;
  opt.grid = {1, 1};
  opt.k_best = 1;
  opt.forward_timeout = 20s;
  RemoteMixtureOfExperts layer{*system, router, width, width, opt};
  auto x = torch::randn({batch, width});
  std::string failure;
  try {
    layer->forward(x);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  CAF_MESSAGE("without parts: " << failure);
  CAF_CHECK_NOT_EQUAL(failure, "");
  CAF_CHECK_EQUAL(dead_servers(router), 1u);
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
}

CAF_TEST_FIXTURE_SCOPE_END()
