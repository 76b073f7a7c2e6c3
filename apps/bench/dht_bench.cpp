// dmoe-bench dht: an in-process swarm of DHT node actors (no TCP), measured as a user sees it:
// get success rate, lookup rounds and latency, requests per lookup, memory per node.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actors/dht/local_swarm.hpp"
#include "apps/bench/bench.hpp"
#include "apps/bench/blas_info.hpp"
#include "runtime/logging.hpp"

namespace dmoe::bench {

namespace {

struct dht_args {
  size_t nodes = 1000;
  double churn = 0.0;
  size_t keys = 500;
  size_t gets = 1000;
  size_t k = default_bucket_size;
};

size_t rss_bytes() {
  std::ifstream status{"/proc/self/status"};
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoul(line.substr(6)) * 1024;
  return 0;
}

template <class T>
T percentile(std::vector<T> xs, double p) {
  if (xs.empty())
    return T{};
  std::sort(xs.begin(), xs.end());
  auto index = static_cast<size_t>(std::ceil(p * static_cast<double>(xs.size()))) - 1;
  return xs[std::min(index, xs.size() - 1)];
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void run_dht_bench(const dht_args& args) {
  log::setup("warn");
  std::printf("BLAS: %s\n", blas_in_use().c_str());
  std::printf("dht: %zu nodes in one process, k=%zu, %zu keys, %zu gets, churn %.0f%%\n",
              args.nodes, args.k, args.keys, args.gets, args.churn * 100);
  caf::actor_system_config cfg;
  caf::actor_system system{cfg};
  dht_options options;
  options.k = args.k;
  options.replication_interval = std::chrono::hours(1);  // the benchmark triggers it
  auto rss_before = rss_bytes();
  auto start = std::chrono::steady_clock::now();
  dht::local_swarm swarm{system, args.nodes, options};
  std::printf("built and joined in %.1f s; memory per node %.1f KiB (RSS growth / nodes)\n",
              seconds_since(start),
              static_cast<double>(rss_bytes() - rss_before) / args.nodes / 1024.0);
  auto expiration = swarm.now() + 3600;
  size_t stored = 0;
  for (size_t i = 0; i < args.keys; ++i)
    if (dht::store(system, swarm.nodes[swarm.random_alive()], "key-" + std::to_string(i), "",
                   "value-" + std::to_string(i), expiration))
      ++stored;
  std::printf("stored %zu of %zu keys\n", stored, args.keys);
  if (args.churn > 0) {
    auto killed = swarm.kill(args.churn);
    auto t = std::chrono::steady_clock::now();
    swarm.replicate_everywhere();
    std::printf("killed %zu nodes without goodbye; replication pass took %.1f s\n", killed,
                seconds_since(t));
  }
  std::vector<double> latency_ms;
  std::vector<uint32_t> rounds;
  std::vector<uint32_t> requests;
  size_t found = 0;
  for (size_t g = 0; g < args.gets; ++g) {
    auto i = g % args.keys;
    auto t = std::chrono::steady_clock::now();
    auto got = dht::get(system, swarm.nodes[swarm.random_alive()], "key-" + std::to_string(i));
    latency_ms.push_back(seconds_since(t) * 1000);
    if (!got)
      continue;
    rounds.push_back(got->stats.rounds);
    requests.push_back(got->stats.requests);
    if (got->items.size() == 1 && got->items[0].value == "value-" + std::to_string(i))
      ++found;
  }
  auto success = 100.0 * static_cast<double>(found) / static_cast<double>(args.gets);
  auto target_success = args.churn > 0 ? 99.0 : 100.0;
  auto round_limit = std::log2(static_cast<double>(args.nodes)) / 2;
  auto median_rounds = percentile(rounds, 0.5);
  std::printf("get success: %.2f%% (target >= %.0f%%: %s)\n", success, target_success,
              success >= target_success ? "met" : "MISSED");
  std::printf("lookup rounds: median %u, p99 %u (target median <= log2(N)/2 = %.1f: %s)\n",
              median_rounds, percentile(rounds, 0.99), round_limit,
              median_rounds <= round_limit ? "met" : "MISSED");
  std::printf("requests per lookup: median %u, p99 %u\n", percentile(requests, 0.5),
              percentile(requests, 0.99));
  std::printf("get latency: median %.2f ms, p99 %.2f ms\n", percentile(latency_ms, 0.5),
              percentile(latency_ms, 0.99));
}

}  // namespace

void add_dht_bench(CLI::App& app) {
  auto args = std::make_shared<dht_args>();
  auto* cmd = app.add_subcommand("dht", "a swarm of DHT nodes in one process: lookups under churn");
  cmd->add_option("--nodes", args->nodes, "number of DHT nodes")->check(CLI::Range(2, 100000));
  cmd->add_option("--churn", args->churn, "fraction of nodes killed after storing")
    ->check(CLI::Range(0.0, 0.9));
  cmd->add_option("--keys", args->keys, "keys stored")->check(CLI::Range(1, 1000000));
  cmd->add_option("--gets", args->gets, "gets measured")->check(CLI::Range(1, 1000000));
  cmd->add_option("--k", args->k, "bucket size and replication factor")->check(CLI::Range(1, 100));
  cmd->callback([args] { run_dht_bench(*args); });
}

}  // namespace dmoe::bench
