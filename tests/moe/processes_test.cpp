// moe.processes: the DMoE layer against real dmoe-node expert server processes on loopback. A
// DHT bootstrap node and four servers (one grid row each) run as processes; this process joins
// the DHT with its own node and runs a supervised router and the layer. One server holds its
// calls (a long max-batch-wait) and is SIGKILLed while a forward waits on it: the forward must
// finish through alternative experts long before forward_timeout, equal the renormalised
// mixture of the experts that answered, and the dead server must not be chosen again.
#include <csignal>
#include <map>
#include <regex>
#include <thread>

#include <caf/io/middleman.hpp>

#include "actors/dht/client.hpp"
#include "actors/dht/node.hpp"
#include "actors/moe/supervisor.hpp"
#include "runtime/experts/expert_module.hpp"
#include "messages/expert_pattern.hpp"
#include "runtime/node_config.hpp"
#include "tests/moe/moe_fixture.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;

namespace {

constexpr size_t server_count = 4;  // server i hosts grid row i: ffn.i.0 .. ffn.i.3
constexpr size_t victim = 0;
constexpr int64_t width = 32;       // the experts' hidden size, also the layer's input width
constexpr uint64_t server_seed = 7;
constexpr int64_t batch = 32;
constexpr auto request_timeout = std::chrono::seconds(10);
constexpr auto poll_step = std::chrono::milliseconds(20);

class swarm_fixture {
public:
  std::string dir = temp_dir("moe-procs");
  process bootstrap;
  std::vector<process> servers;
  std::vector<uint16_t> server_ports;
  node_config cfg;
  std::unique_ptr<caf::actor_system> system;
  dht::node_actor dht_node;
  uint16_t dht_port = 0;
  moe::router_actor router;

  swarm_fixture() {
    auto bootstrap_port = free_port();
    bootstrap = launch({DMOE_NODE_BINARY, "--config-file=" DMOE_CONFIG_DIR "/dht-bootstrap.ini",
                        "--node.name=\"moe-dht\"", "--node.port=" + std::to_string(bootstrap_port)},
                       dir + "/dht.log");
    CAF_REQUIRE(bootstrap.pid > 0);
    CAF_REQUIRE(wait_listening(bootstrap_port, std::chrono::seconds(20)));
    auto peer = "127.0.0.1:" + std::to_string(bootstrap_port);
    for (size_t i = 0; i < server_count; ++i) {
      server_ports.push_back(free_port());
      auto row = std::to_string(i);
      std::vector<std::string> args{
        DMOE_NODE_BINARY, "--config-file=" DMOE_CONFIG_DIR "/server.ini",
        "--node.name=\"moe-server-" + row + "\"", "--node.port=" + std::to_string(server_ports[i]),
        "--dht.bootstrap=[\"" + peer + "\"]",
        "--server.expert-pattern=\"ffn.[" + row + ":" + std::to_string(i + 1) + "].[0:4]\"",
        "--server.hidden=" + std::to_string(width), "--server.seed=" + std::to_string(server_seed),
        "--server.torch-threads=1"};
      if (i == victim) {
        // Holds every call for 8 s (so it is surely in flight when killed) and declares once:
        // a fresh declaration would tell the router it came back.
        args.insert(args.end(), {"--server.max-batch-wait=8s", "--server.adaptive-wait=false",
                                 "--server.declare-period=60s",
                                 "--server.declare-ttl=100s"});
      } else {
        args.insert(args.end(), {"--server.declare-period=2s", "--server.declare-ttl=20s"});
      }
      servers.push_back(launch(args, dir + "/server-" + row + ".log"));
      CAF_REQUIRE(servers.back().pid > 0);
    }
    CAF_REQUIRE(!cfg.parse_and_validate(std::vector<std::string>{}));
    system = std::make_unique<caf::actor_system>(cfg);
    dht::node_setup setup;
    setup.name = "moe-test/dht";
    setup.options.bootstrap = {peer};
    dht_node = dht::spawn_node(*system, std::move(setup));
    auto port = system->middleman().publish(dht_node, 0, "127.0.0.1", true);
    CAF_REQUIRE(port);
    dht_port = *port;
    caf::scoped_actor self{*system};
    uint32_t contacts = 0;
    self->request(dht_node, request_timeout, dht::dht_start_atom::value,
                  "127.0.0.1:" + std::to_string(dht_port))
      .receive([&](uint32_t n) { contacts = n; }, [](caf::error&) {});
    CAF_REQUIRE_GREATER(contacts, 0u);
  }

  ~swarm_fixture() {
    if (router)
      caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
    if (dht_node) {
      system->middleman().unpublish(dht_node, dht_port);
      caf::anon_send_exit(dht_node, caf::exit_reason::user_shutdown);
    }
    system.reset();
    stop(bootstrap);
    for (auto& p : servers)
      stop(p);
  }

  static void stop(process& p) {
    if (p.pid <= 0)
      return;
    kill(p.pid, SIGKILL);
    waitpid(p.pid, nullptr, 0);
    p.pid = -1;
  }

  std::string endpoint(size_t server) const {
    return "127.0.0.1:" + std::to_string(server_ports[server]);
  }

  void dump_logs() {
    CAF_MESSAGE(bootstrap.log_path << ":\n" << read_file(bootstrap.log_path));
    for (auto& p : servers)
      CAF_MESSAGE(p.log_path << ":\n" << read_file(p.log_path));
  }

  /// Waits (bounded) until every row and every expert is declared in the DHT.
  bool wait_declared(std::chrono::seconds limit) {
    return poll_until(
      [&] {
        size_t declared = 0;
        for (size_t row = 0; row < server_count; ++row)
          declared += dht::declared_children(*system, dht_node, "ffn." + std::to_string(row) + ".");
        return declared == server_count * 4
               && dht::declared_children(*system, dht_node, "ffn.") == server_count;
      },
      limit, std::chrono::milliseconds(200));
  }

  moe::router_stats stats_of(const moe::router_actor& router) {
    caf::scoped_actor self{*system};
    moe::router_stats out;
    self->request(router, request_timeout, stats_atom::value)
      .receive([&](moe::router_stats& s) { out = std::move(s); }, [](caf::error&) {});
    return out;
  }

  /// The text a server process's inspector renders for `command` ("" on failure).
  std::string inspect(size_t server, const std::string& command) {
    auto gateway = remote_node(*system, "127.0.0.1", server_ports[server]);
    if (!gateway)
      return {};
    caf::scoped_actor self{*system};
    std::string out;
    self->request(*gateway, request_timeout, inspect_atom::value, command)
      .receive([&](std::string& text) { out = std::move(text); }, [](caf::error&) {});
    return out;
  }
};

bool in_flight_to(const moe::router_stats& stats, const std::string& server) {
  for (const auto& call : stats.calls_in_flight)
    if (call.server == server)
      return true;
  return false;
}

bool has_queued_call(const std::string& stats_text) {
  static const std::regex queued{"queue=[1-9]"};
  return std::regex_search(stats_text, queued);
}

/// The grid rows used by the last forward's answered slots.
std::set<int64_t> answered_rows(RemoteMixtureOfExperts& layer) {
  std::set<int64_t> out;
  for_each_answered(layer, [&](int64_t, int64_t row, int64_t) { out.insert(row); });
  return out;
}

/// The layer's mixture recomputed with local copies of the experts (same type, width, seeds)
/// over the answered slots only.
torch::Tensor mixture_of_local_copies(RemoteMixtureOfExperts& layer, const torch::Tensor& x) {
  std::map<std::string, std::shared_ptr<expert_module>> local;
  auto scores = all_scores(layer, x);
  auto coords = layer->last_coords();
  auto mask = layer->last_mask();
  std::vector<torch::Tensor> rows;
  for (int64_t b = 0; b < x.size(0); ++b) {
    std::vector<torch::Tensor> chosen, outputs;
    for (int64_t s = 0; s < coords.size(1); ++s) {
      if (!mask[b][s].item<bool>())
        continue;
      auto a = coords[b][s][0].item<int64_t>();
      auto c = coords[b][s][1].item<int64_t>();
      auto id = id_of(a, c);
      if (local.count(id) == 0)
        local[id] = *make_expert("ffn", width, expert_seed(server_seed, id));
      chosen.push_back(scores[b][a * 4 + c]);
      outputs.push_back(local.at(id)->forward({x.slice(0, b, b + 1)})[0][0]);
    }
    if (chosen.empty()) {
      rows.push_back(torch::zeros({width}));
      continue;
    }
    auto w = torch::softmax(torch::stack(chosen), 0);
    rows.push_back((w.unsqueeze(1) * torch::stack(outputs)).sum(0));
  }
  return torch::stack(rows);
}

}  // namespace

#undef CAF_SUITE
#define CAF_SUITE moe.processes
CAF_TEST_FIXTURE_SCOPE(process_tests, swarm_fixture)

CAF_TEST(a server SIGKILLed mid forward is routed around long before forward_timeout) {
  if (!wait_declared(std::chrono::seconds(30)))
    dump_logs();
  CAF_REQUIRE(wait_declared(std::chrono::seconds(1)));
  moe_options opt;
  opt.grid = {4, 4};
  opt.k_best = 4;
  opt.k_min = 1;
  opt.forward_timeout = std::chrono::seconds(10);
  opt.timeout_after_k_min = opt.forward_timeout;  // wait for every slot, the victim's too
  moe::router_setup setup;
  setup.name = "moe-test";
  setup.options = opt;
  setup.limits = cfg.limits.wire();
  setup.dht = dht_node;
  router = moe::spawn_supervised_router(*system, std::move(setup));
  torch::manual_seed(21);
  RemoteMixtureOfExperts layer{*system, router, width, width, opt};
  torch::NoGradGuard no_grad;
  auto x = torch::randn({batch, width});
  // The victim's row is among some sample's k_best, so the forward surely calls it.
  auto scores = all_scores(layer, x);
  bool victim_wanted = false;
  for (int64_t b = 0; b < batch; ++b)
    for (const auto& id : top_ids(scores, b, 4))
      victim_wanted = victim_wanted || grid_coordinates(id).at(0) == int64_t{victim};
  CAF_REQUIRE(victim_wanted);

  torch::Tensor y;
  std::string failure;
  auto started = std::chrono::steady_clock::now();
  std::thread caller{[&] {
    try {
      y = layer->forward(x);
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }};
  // Observable, bounded: the router has a call out to the victim, and the victim holds it.
  bool held = false;
  for (int i = 0; i < 250 && !held; ++i) {
    held = in_flight_to(stats_of(router), endpoint(victim));
    if (!held)
      std::this_thread::sleep_for(poll_step);
  }
  bool queued = false;
  std::string victim_stats;
  for (int i = 0; i < 100 && held && !queued; ++i) {
    victim_stats = inspect(victim, "stats");
    queued = has_queued_call(victim_stats);
    if (!queued)
      std::this_thread::sleep_for(poll_step);
  }
  if (!queued)
    CAF_MESSAGE("the victim's stats:\n" << victim_stats);
  CAF_CHECK(held);
  CAF_CHECK(queued);
  auto killed = std::chrono::steady_clock::now();
  kill(servers[victim].pid, SIGKILL);
  caller.join();
  auto after_kill = ms_since(killed);
  auto elapsed = ms_since(started);
  auto report = layer->report();
  CAF_MESSAGE("forward took " << elapsed << " ms (" << after_kill << " ms after the kill), "
                              << report.forward.calls << " calls, "
                              << report.forward.rerouted << " slots rerouted");
  CAF_REQUIRE(failure.empty());
  CAF_CHECK_EQUAL(wait_exit(servers[victim].pid, std::chrono::seconds(5)), 128 + SIGKILL);
  servers[victim].pid = -1;
  auto limit = std::chrono::duration<double, std::milli>(opt.forward_timeout).count() / 2;
  CAF_CHECK_LESS(elapsed, limit);
  CAF_CHECK_GREATER(report.forward.rerouted, 0u);
  CAF_CHECK(layer->last_mask().all().item<bool>());
  CAF_CHECK_EQUAL(answered_rows(layer).count(int64_t{victim}), 0u);
  auto diff = max_abs_diff(y, mixture_of_local_copies(layer, x));
  CAF_MESSAGE("max |y - local mixture of the answering experts| = " << diff);
  CAF_CHECK_LESS(diff, 1e-5);
  auto dead = stats_of(router).dead_servers;
  CAF_REQUIRE_EQUAL(dead.size(), 1u);
  CAF_CHECK_EQUAL(dead.front(), endpoint(victim));

  // The next forward does not choose the dead server's experts (their declarations are still
  // in the DHT) and needs no timeout.
  started = std::chrono::steady_clock::now();
  auto y2 = layer->forward(x);
  elapsed = ms_since(started);
  CAF_MESSAGE("next forward took " << elapsed << " ms");
  CAF_CHECK_LESS(elapsed, limit);
  CAF_CHECK(layer->last_mask().all().item<bool>());
  auto coords = layer->last_coords();
  CAF_CHECK_EQUAL((coords.select(2, 0) == int64_t{victim}).sum().item<int64_t>(), 0);
  CAF_CHECK_EQUAL(layer->report().forward.rerouted, 0u);
  CAF_CHECK_LESS(max_abs_diff(y2, mixture_of_local_copies(layer, x)), 1e-5);
}

CAF_TEST_FIXTURE_SCOPE_END()
