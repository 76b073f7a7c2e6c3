// The workloads `dmoe-bench wan` measures against a wan_swarm, each as samples/s of
// forward+backward over a measurement window:
//   - run_dmoe: `threads` trainer threads in this process, each with its own stack of `layers`
//     RemoteMixtureOfExperts (k_best experts per sample, k_min = k_best so every answer counts),
//     all sharing one router: many batches in flight, like dmoe's trainers;
//   - run_chain: the model-parallel baseline, the same blocks chained as consecutive layers
//     (block j on server j % S), one batch at a time through the chain and back; with
//     micro_batches > 1, that many micro-batches of batch / micro_batches travel the chain at
//     once (GPipe's pipelining; each backward updates its block at once, as the servers do for
//     every caller, instead of GPipe's flush).
// Both do the same expert work per sample when blocks = layers x k_best.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/gateway/gateway.hpp"

namespace dmoe::bench {

/// Each thread runs one warm-up step, then steps until it has run `min_steps` and `min_time`
/// has passed (or `hard_limit` since the start, whichever first).
struct measure_window {
  std::chrono::seconds min_time{10};
  int min_steps = 2;
  std::chrono::seconds hard_limit{180};
};

struct throughput {
  double samples_per_s = 0;   // sum over threads of measured samples / measured time
  size_t steps = 0;           // measured steps, all threads
  size_t failed_steps = 0;    // steps that threw (their samples do not count)
  double step_ms_median = 0;  // one thread's step, forward+backward
  std::string first_error;    // of the first failed step
};

struct dmoe_workload {
  int threads = 16;
  int layers = 2;
  size_t k_best = 2;
  int64_t batch = 64;
  int64_t hidden = 1024;
  std::string grid_name = "ffn";
  std::vector<int64_t> grid = {4, 4};
  compression_kind compression = compression_kind::none;
  std::chrono::seconds timeout{60};
};

throughput run_dmoe(caf::actor_system& system, const dht::router_dht_actor& dht,
                    const dmoe_workload& w,
                    const measure_window& window);

struct chain_workload {
  std::vector<std::string> block_ids;   // in chain order
  std::vector<gateway_actor> gateways;  // the gateway of block j's server, per block
  int micro_batches = 1;
  int64_t batch = 64;
  int64_t hidden = 1024;
  compression_kind compression = compression_kind::none;
  std::chrono::seconds timeout{120};
};

throughput run_chain(caf::actor_system& system, const chain_workload& w,
                     const measure_window& window);

}  // namespace dmoe::bench
