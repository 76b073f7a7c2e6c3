// `dmoe-bench moe`: a trainer-side DMoE layer against real expert server processes on loopback.
//
// Starts one DHT bootstrap node and --servers expert servers (dmoe-node processes, each hosting
// a row of the grid, "ffn.<i>.[0:cols]"), joins the DHT from this process, and runs --steps
// forward+backward passes of RemoteMixtureOfExperts on random [--batch, --hidden] inputs. It
// prints samples/s and the latency of a step, broken down by the router (routing = beam search
// and DHT lookups, encode, decode, network wait), and, as the reference in the same run, the same
// experts (same type, hidden size and seeds) computed locally for the same routing.
//
//   dmoe-bench moe [--servers 4] [--batch 64] [--hidden 256] [--steps 30] [--k-best 4]
//                  [--node-binary PATH]
#include <algorithm>
#include <chrono>
#include <csignal>
#include <map>
#include <numeric>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <fmt/core.h>
#include <torch/types.h>

#include "actors/dht/client.hpp"
#include "actors/moe/remote_moe.hpp"
#include "actors/moe/router.hpp"
#include "apps/bench/bench.hpp"
#include "apps/bench/bench_processes.hpp"
#include "apps/bench/blas_info.hpp"
#include "messages/type_ids.hpp"
#include "runtime/experts/expert_module.hpp"
#include "messages/expert_pattern.hpp"
#include "runtime/logging.hpp"
#include "runtime/node_config.hpp"
#include "tests/process_util.hpp"

namespace dmoe::bench {

namespace {

constexpr uint64_t server_seed = 1234;
constexpr int warmup_steps = 3;
constexpr int64_t grid_cols = 4;
constexpr auto startup_limit = std::chrono::seconds(60);

struct moe_args {
  int servers = 4;
  int64_t batch = 64;
  int64_t hidden = 256;
  int steps = 30;
  size_t k_best = 4;
  std::string node_binary;
};

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

// Local reference: the same experts as the servers (type ffn, same hidden size and seeds).
using local_experts = std::map<std::string, std::shared_ptr<expert_module>>;

local_experts build_local(const moe_args& a) {
  local_experts out;
  for (int i = 0; i < a.servers; ++i)
    for (int64_t c = 0; c < grid_cols; ++c) {
      auto id = fmt::format("ffn.{}.{}", i, c);
      auto expert = make_expert("ffn", a.hidden, expert_seed(server_seed, id));
      if (!expert) {
        fmt::print(stderr, "moe bench: cannot build expert {}: {}\n", id, describe(expert.error()));
        std::exit(1);
      }
      out[id] = *expert;
    }
  return out;
}

// One local forward+backward of the mixture with the routing the remote layer chose.
double local_step(RemoteMixtureOfExperts& layer, local_experts& experts, const torch::Tensor& x) {
  auto started = clock_type::now();
  auto coords = layer->last_coords();
  auto mask = layer->last_mask();
  auto xl = x.detach().requires_grad_(true);
  auto l0 = layer->gate(0)->forward(xl);
  auto l1 = layer->gate(1)->forward(xl);
  auto k = coords.size(1);
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<int64_t>>> groups;
  for (int64_t b = 0; b < coords.size(0); ++b)
    for (int64_t s = 0; s < k; ++s)
      if (mask[b][s].item<bool>()) {
        auto& g = groups[fmt::format("ffn.{}.{}", coords[b][s][0].item<int64_t>(),
                                     coords[b][s][1].item<int64_t>())];
        g.first.push_back(b);
        g.second.push_back(s);
      }
  auto outputs = torch::zeros({x.size(0), k, x.size(1)});
  for (auto& [id, g] : groups) {
    auto rows = torch::tensor(g.first);
    auto y = experts.at(id)->forward({xl.index_select(0, rows)})[0];
    outputs = outputs.index_put({rows, torch::tensor(g.second)}, y);
  }
  auto scores = l0.gather(1, coords.select(2, 0).clamp_min(0))
                + l1.gather(1, coords.select(2, 1).clamp_min(0));
  auto weights = torch::softmax(scores.masked_fill(~mask, -1e9), 1) * mask;
  auto y = (weights.unsqueeze(-1) * outputs).sum(1);
  y.pow(2).mean().backward();
  return ms_since(started);
}

int run_moe_bench(const moe_args& a) {
  log::setup("warn");
  stop_launched_on_signals();
  fmt::print("BLAS: {}\n", blas_in_use());
  fmt::print("torch threads in this process: {}\n", torch::get_num_threads());
  auto binary = a.node_binary.empty() ? own_dir() + "/dmoe-node" : a.node_binary;
  auto dir = test::temp_dir("moe-bench");
  std::vector<test::process> procs;
  auto bootstrap_port = test::free_port();
  auto bootstrap = fmt::format("127.0.0.1:{}", bootstrap_port);
  procs.push_back(test::launch({binary, "--node.name=\"bench-dht\"", "--node.roles=[\"dht\"]",
                                fmt::format("--node.port={}", bootstrap_port),
                                "--node.log-level=\"warn\""},
                               dir + "/dht.log"));
  if (!test::wait_listening(bootstrap_port, std::chrono::seconds(20))) {
    fmt::print(stderr, "moe bench: the DHT node did not start (log: {}/dht.log)\n", dir);
    stop_all(procs);
    return 1;
  }
  for (int i = 0; i < a.servers; ++i) {
    auto port = test::free_port();
    procs.push_back(test::launch(
      {binary, fmt::format("--node.name=\"bench-server-{}\"", i),
       "--node.roles=[\"dht\",\"server\"]", fmt::format("--node.port={}", port),
       "--node.log-level=\"warn\"", fmt::format("--dht.bootstrap=[\"{}\"]", bootstrap),
       fmt::format("--server.expert-pattern=\"ffn.{}.[0:{}]\"", i, grid_cols),
       fmt::format("--server.hidden={}", a.hidden), fmt::format("--server.seed={}", server_seed),
       "--server.declare-period=2s"},
      fmt::format("{}/server-{}.log", dir, i)));
  }
  fmt::print("started 1 DHT node and {} expert servers (logs in {})\n", a.servers, dir);

  node_config cfg;  // heartbeats like every dmoe process, or the servers drop a quiet client
  cfg.set("logger.verbosity", caf::atom("quiet"));
  int rc = 0;
  {
    caf::actor_system system{cfg};
    dht::node_setup dht_setup;
    dht_setup.name = "bench-trainer/dht";
    dht_setup.options.bootstrap = {bootstrap};
    auto node = dht::spawn_node(system, dht_setup);
    auto port = system.middleman().publish(node, 0, "127.0.0.1", true);
    caf::scoped_actor self{system};
    self->request(node, std::chrono::seconds(30), dht::dht_start_atom::value,
                  fmt::format("127.0.0.1:{}", port ? *port : 0))
      .receive([](uint32_t) {}, [](caf::error&) {});
    moe::router_actor router;
    // Wait until every server row is declared.
    auto deadline = clock_type::now() + startup_limit;
    size_t rows = 0;
    while (clock_type::now() < deadline) {
      rows = dht::declared_children(system, node, "ffn.", std::chrono::seconds(5));
      if (rows >= static_cast<size_t>(a.servers))
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (rows < static_cast<size_t>(a.servers)) {
      fmt::print(stderr, "moe bench: only {} of {} servers declared within {} s\n", rows,
                 a.servers, startup_limit.count());
      rc = 1;
    } else {
      moe_options opt;
      opt.grid = {a.servers, grid_cols};
      opt.k_best = a.k_best;
      moe::router_setup rs;
      rs.name = "bench-trainer";
      rs.options = opt;
      rs.dht = node;
      router = moe::spawn_router(system, rs);
      torch::manual_seed(7);
      RemoteMixtureOfExperts layer{system, router, a.hidden, a.hidden, opt};
      auto experts = build_local(a);
      std::vector<double> step_ms, fwd_ms, bwd_ms, routing, encode, decode, wait, local_ms;
      size_t answered = 0, slots = 0;
      for (int step = 0; step < warmup_steps + a.steps; ++step) {
        auto x = torch::randn({a.batch, a.hidden});
        auto xr = x.clone().requires_grad_(true);
        auto started = clock_type::now();
        auto y = layer->forward(xr);
        auto forward_done = ms_since(started);
        y.pow(2).mean().backward();
        auto total = ms_since(started);
        auto local = local_step(layer, experts, x);
        if (step < warmup_steps)
          continue;
        const auto& r = layer->report();
        step_ms.push_back(total);
        fwd_ms.push_back(forward_done);
        bwd_ms.push_back(total - forward_done);
        routing.push_back(r.forward.routing_ms);
        encode.push_back(r.forward.encode_ms + r.backward.encode_ms);
        decode.push_back(r.forward.decode_ms + r.backward.decode_ms);
        wait.push_back(r.forward.wait_ms + r.backward.wait_ms);
        local_ms.push_back(local);
        answered += r.answered_slots;
        slots += static_cast<size_t>(a.batch) * a.k_best;
      }
      auto step = median(step_ms);
      auto local = median(local_ms);
      fmt::print("\n{} steps of forward+backward, batch {}, hidden {}, grid {}x{}, k_best {} "
                 "({} servers on loopback)\n",
                 a.steps, a.batch, a.hidden, a.servers, grid_cols, a.k_best, a.servers);
      fmt::print("  remote layer : {:8.1f} samples/s, step median {:7.2f} ms (forward {:.2f}, "
                 "backward {:.2f})\n",
                 1000.0 * a.batch / step, step, median(fwd_ms), median(bwd_ms));
      fmt::print("    routing (beam search + DHT) {:.2f} ms, encode {:.2f} ms, decode+copy {:.2f} "
                 "ms, waiting for servers {:.2f} ms (network + server queue + compute)\n",
                 median(routing), median(encode), median(decode), median(wait));
      fmt::print("    answered slots {} of {}\n", answered, slots);
      fmt::print("  local experts: {:8.1f} samples/s, step median {:7.2f} ms (same experts and "
                 "routing, computed in this process = the compute share)\n",
                 1000.0 * a.batch / local, local);
      fmt::print("  remote / local step time: {:.2f}x\n", step / local);
    }
    if (router)
      caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    if (port)
      system.middleman().unpublish(node, *port);
  }
  stop_all(procs);
  return rc;
}

}  // namespace

void add_moe_bench(CLI::App& app) {
  auto args = std::make_shared<moe_args>();
  auto* cmd = app.add_subcommand("moe", "a DMoE layer against expert server processes on "
                                        "loopback, vs the same experts computed locally");
  cmd->add_option("--servers", args->servers, "expert server processes (grid rows)");
  cmd->add_option("--batch", args->batch, "samples per step");
  cmd->add_option("--hidden", args->hidden, "expert width");
  cmd->add_option("--steps", args->steps, "measured steps");
  cmd->add_option("--k-best", args->k_best, "experts per sample");
  cmd->add_option("--node-binary", args->node_binary, "dmoe-node (default: next to dmoe-bench)");
  cmd->callback([args] {
    if (auto rc = run_moe_bench(*args); rc != 0)
      std::exit(rc);
  });
}

}  // namespace dmoe::bench
