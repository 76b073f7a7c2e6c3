// `dmoe-bench wan`: the paper's throughput-vs-latency experiment (Learning@home, Fig. 3) on real
// dmoe-node processes behind dmoe-link emulated links.
//
// For each round trip time it starts a fresh wan_swarm (a DHT node and --servers expert servers,
// every one behind its own dmoe-link delaying each direction by rtt/2) and measures samples/s of
// forward+backward through
//   dmoe            --threads trainer threads, each with --layers DMoE layers (k_best experts
//                   per sample), many batches in flight;
//   model_parallel  the same blocks (layers x k_best of them, block j on server j % S) chained
//                   one batch at a time (the paper's baseline);
//   gpipe           the same chain with --micro-batches micro-batches in flight.
// Then, at 100 ms and a capped rate (--capped-rate on every link), dmoe with compression none
// and float16. It prints a CSV row per measurement, writes them to --csv and a gnuplot PNG to
// --png, and ends with
//   summary: rtt_ms=100 dmoe/model-parallel=X.XX; dmoe 200ms/0ms=Y.YY
// Each server runs one torch thread: it stands for one volunteer machine's share of the cores.
//
//   dmoe-bench wan [--quick] [--servers 4] [--rtts 0,50,...] [--threads 16] [--hidden 1024]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <fmt/core.h>
#include <torch/types.h>
#include <torch/utils.h>

#include "apps/bench/bench.hpp"
#include "apps/bench/bench_processes.hpp"
#include "apps/bench/blas_info.hpp"
#include "apps/bench/wan_swarm.hpp"
#include "apps/bench/wan_workloads.hpp"
#include "messages/type_ids.hpp"
#include "runtime/logging.hpp"
#include "runtime/node_dial.hpp"
#include "runtime/node_config.hpp"

namespace dmoe::bench {

namespace {

constexpr int summary_rtt = 100;
constexpr int flat_rtt = 200;
constexpr auto declare_limit = std::chrono::seconds(90);

struct wan_args {
  bool quick = false;
  std::vector<int> rtts;
  int servers = 4;
  int cols = 4;
  int threads = 32;
  int layers = 2;
  size_t k_best = 2;
  int64_t batch = 16;
  int64_t hidden = 1024;
  int micro_batches = 4;
  int window_s = 0;  // 0: 10 s quick, 20 s otherwise
  std::string capped_rate = "10mbit";
  std::string csv;  // empty: wan.csv in the run's directory
  std::string png;  // empty: wan.png there
  std::string node_binary;
  std::string link_binary;
  std::string log_level = "warn";
};

struct row {
  int rtt_ms;
  std::string rate;
  compression_kind compression;
  std::string workload;
  throughput result;
};

std::string csv_header() {
  return "rtt_ms,link_rate,compression,workload,samples_per_s,steps,failed_steps,step_ms_median";
}

std::string csv_line(const row& r) {
  return fmt::format("{},{},{},{},{:.1f},{},{},{:.1f}", r.rtt_ms, r.rate, name_of(r.compression),
                     r.workload, r.result.samples_per_s, r.result.steps, r.result.failed_steps,
                     r.result.step_ms_median);
}

class wan_run {
public:
  explicit wan_run(const wan_args& a) : a_(a) {
    cfg_.set("logger.verbosity", caf::atom("quiet"));
    system_ = std::make_unique<caf::actor_system>(cfg_);
    dir_ = test::temp_dir("wan-bench");
  }

  const std::string& dir() const {
    return dir_;
  }

  /// One swarm with links of `rtt_ms` and `rate`, servers sending with `compression`; runs
  /// each of `workloads` ("dmoe", "model_parallel", "gpipe") and prints their rows.
  bool measure(int rtt_ms, const std::string& rate, compression_kind compression,
               const std::vector<std::string>& workloads, std::vector<row>& rows) {
    wan_swarm_options so;
    so.servers = a_.servers;
    so.cols = a_.cols;
    so.hidden = a_.hidden;
    so.compression = compression;
    so.dir = dir_;
    so.node_binary = a_.node_binary.empty() ? own_dir() + "/dmoe-node" : a_.node_binary;
    so.link_binary = a_.link_binary.empty() ? own_dir() + "/dmoe-link" : a_.link_binary;
    auto swarm = wan_swarm::start(so, wan_link{rtt_ms, rate});
    if (!swarm) {
      fmt::print(stderr, "wan bench: {}\n", describe(swarm.error()));
      return false;
    }
    auto dht = start_client_dht(*system_, "wan-bench/dht", (*swarm)->bootstrap());
    bool ok = wait_declared(*system_, dht, "ffn", a_.servers, a_.cols, declare_limit);
    if (!ok)
      fmt::print(stderr, "wan bench: the servers did not declare their experts within {} s "
                         "(logs in {})\n", declare_limit.count(), dir_);
    // The chains call each server's gateway directly: dialed once per swarm.
    std::vector<gateway_actor> gateways;
    if (ok && std::any_of(workloads.begin(), workloads.end(),
                          [](const std::string& w) { return w != "dmoe"; })) {
      for (int i = 0; i < a_.servers && ok; ++i) {
        gateways.push_back(gateway_of((*swarm)->server_port(i)));
        ok = static_cast<bool>(gateways.back());
      }
    }
    for (const auto& workload : workloads) {
      if (!ok)
        break;
      auto result = workload == "dmoe"
                      ? run_dmoe(*system_, dht, dmoe_of(compression), window())
                      : run_chain(*system_, chain_of(gateways, workload, compression), window());
      row r{rtt_ms, rate, compression, workload, result};
      fmt::print("{}\n", csv_line(r));
      if (result.failed_steps > 0)
        fmt::print("  ({} failed steps; first: {})\n", result.failed_steps, result.first_error);
      std::fflush(stdout);
      rows.push_back(r);
    }
    caf::anon_send_exit(dht, caf::exit_reason::user_shutdown);
    caf::scoped_actor{*system_}->wait_for(dht);  // gone before its peers stop
    return ok;
  }

private:
  measure_window window() const {
    measure_window w;
    w.min_time = std::chrono::seconds(a_.window_s > 0 ? a_.window_s : (a_.quick ? 10 : 20));
    return w;
  }

  dmoe_workload dmoe_of(compression_kind compression) const {
    dmoe_workload w;
    w.threads = a_.threads;
    w.layers = a_.layers;
    w.k_best = a_.k_best;
    w.batch = a_.batch;
    w.hidden = a_.hidden;
    w.grid = {a_.servers, a_.cols};
    w.compression = compression;
    return w;
  }

  /// Block j on server j % S, through `gateways` (one per server).
  chain_workload chain_of(const std::vector<gateway_actor>& gateways, const std::string& workload,
                          compression_kind compression) const {
    chain_workload w;
    w.batch = a_.batch;
    w.hidden = a_.hidden;
    w.compression = compression;
    w.micro_batches = workload == "gpipe" ? a_.micro_batches : 1;
    auto blocks = static_cast<int>(a_.layers * static_cast<int>(a_.k_best));
    for (int j = 0; j < blocks; ++j) {
      auto server = j % a_.servers;
      w.block_ids.push_back(fmt::format("ffn.{}.{}", server, (j / a_.servers) % a_.cols));
      w.gateways.push_back(gateways.at(static_cast<size_t>(server)));
    }
    return w;
  }

  gateway_actor gateway_of(uint16_t port) {
    auto handle = dial_gateway(*system_, "127.0.0.1", port, std::chrono::seconds(30));
    if (!handle) {
      fmt::print(stderr, "wan bench: cannot reach the server behind port {}: {}\n", port,
                 message_of(handle.error()));
      return {};
    }
    return *handle;
  }

  wan_args a_;
  node_config cfg_;  // heartbeats like every dmoe process, or the servers drop a quiet client
  std::unique_ptr<caf::actor_system> system_;
  std::string dir_;
};

double rate_of(const std::vector<row>& rows, int rtt, const std::string& workload,
               const std::string& rate = "0") {
  for (const auto& r : rows)
    if (r.rtt_ms == rtt && r.workload == workload && r.rate == rate)
      return r.result.samples_per_s;
  return std::nan("");
}

void write_csv(const std::vector<row>& rows, const std::string& path) {
  std::ofstream out(path);
  out << csv_header() << "\n";
  for (const auto& r : rows)
    out << csv_line(r) << "\n";
}

/// Throughput against RTT of the uncapped rows, one line per workload.
void write_png(const std::vector<row>& rows, const std::vector<int>& rtts, const std::string& dir,
               const std::string& png) {
  auto data_path = dir + "/wan.dat";
  std::ofstream data(data_path);
  data << "# rtt_ms dmoe model_parallel gpipe\n";
  for (auto rtt : rtts)
    data << fmt::format("{} {:.1f} {:.1f} {:.1f}\n", rtt, rate_of(rows, rtt, "dmoe"),
                        rate_of(rows, rtt, "model_parallel"), rate_of(rows, rtt, "gpipe"));
  data.close();
  auto* plot = popen("gnuplot 2>&1", "w");
  if (plot == nullptr) {
    fmt::print(stderr, "wan bench: cannot run gnuplot (apt install gnuplot-nox); no PNG\n");
    return;
  }
  fmt::print(plot,
             "set terminal pngcairo size 800,500\nset output '{}'\n"
             "set title 'forward+backward throughput vs round trip time (dmoe-bench wan)'\n"
             "set xlabel 'round trip time between nodes, ms'\nset ylabel 'samples/s'\n"
             "set key right center\nset grid\nset yrange [0:*]\n"
             "plot '{}' using 1:2 with linespoints lw 2 title 'DMoE (many batches in flight)', "
             "'' using 1:3 with linespoints lw 2 title 'model-parallel (one batch at a time)', "
             "'' using 1:4 with linespoints lw 2 title 'GPipe micro-batches'\n",
             png, data_path);
  if (pclose(plot) != 0)
    fmt::print(stderr, "wan bench: gnuplot failed (apt install gnuplot-nox); no PNG\n");
  else
    fmt::print("wrote {}\n", png);
}

int run_wan_bench(wan_args a) {
  log::setup(a.log_level);
  stop_launched_on_signals();
  torch::set_num_threads(1);  // the servers get the cores; this process only gates and combines
  if (a.rtts.empty())
    a.rtts = a.quick ? std::vector<int>{0, 100, 200} : std::vector<int>{0, 50, 100, 200, 500, 1000};
  auto started = std::chrono::steady_clock::now();
  fmt::print("BLAS: {}\n", blas_in_use());
  fmt::print("{} servers (1 torch thread each), grid {}x{}, block ffn hidden {}, batch {}; dmoe: {} "
             "threads x {} layers, k_best {}; chain of {} blocks; gpipe: {} micro-batches\n",
             a.servers, a.servers, a.cols, a.hidden, a.batch, a.threads, a.layers, a.k_best,
             a.layers * static_cast<int>(a.k_best), a.micro_batches);
  wan_run run(a);
  if (a.csv.empty())
    a.csv = run.dir() + "/wan.csv";
  if (a.png.empty())
    a.png = run.dir() + "/wan.png";
  fmt::print("logs and results in {}\n{}\n", run.dir(), csv_header());
  std::vector<row> rows;
  for (auto rtt : a.rtts)
    if (!run.measure(rtt, "0", compression_kind::none, {"dmoe", "model_parallel", "gpipe"}, rows))
      return 1;
  for (auto compression : {compression_kind::none, compression_kind::float16})
    if (!run.measure(summary_rtt, a.capped_rate, compression, {"dmoe"}, rows))
      return 1;
  write_csv(rows, a.csv);
  fmt::print("wrote {}\n", a.csv);
  write_png(rows, a.rtts, run.dir(), a.png);
  auto capped_none = rate_of(rows, summary_rtt, "dmoe", a.capped_rate);
  double capped_f16 = std::nan("");
  for (const auto& r : rows)
    if (r.rate == a.capped_rate && r.compression == compression_kind::float16)
      capped_f16 = r.result.samples_per_s;
  fmt::print("compression at {} ms, {} per link direction: float16/none = {:.2f}\n", summary_rtt,
             a.capped_rate, capped_f16 / capped_none);
  fmt::print("took {:.0f} s\n",
             std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  fmt::print("summary: rtt_ms={} dmoe/model-parallel={:.2f}; dmoe {}ms/0ms={:.2f}\n", summary_rtt,
             rate_of(rows, summary_rtt, "dmoe") / rate_of(rows, summary_rtt, "model_parallel"),
             flat_rtt, rate_of(rows, flat_rtt, "dmoe") / rate_of(rows, 0, "dmoe"));
  return 0;
}

}  // namespace

void add_wan_bench(CLI::App& app) {
  auto a = std::make_shared<wan_args>();
  auto* cmd = app.add_subcommand("wan", "throughput vs round trip time: DMoE layers against a "
                                        "model-parallel chain of the same experts, over dmoe-link "
                                        "emulated links");
  cmd->add_flag("--quick", a->quick, "RTTs 0, 100, 200 ms and 10 s windows (a few minutes)");
  cmd->add_option("--rtts", a->rtts, "round trip times in ms (default 0,50,100,200,500,1000)")
    ->delimiter(',')
    ->check(CLI::Range(0, 10000));
  cmd->add_option("--servers", a->servers, "expert server processes")->check(CLI::Range(1, 16));
  cmd->add_option("--threads", a->threads, "DMoE trainer threads (batches in flight)")
    ->check(CLI::Range(1, 256));
  cmd->add_option("--layers", a->layers, "DMoE layers per model")->check(CLI::Range(1, 8));
  cmd->add_option("--k-best", a->k_best, "experts per sample and layer")->check(CLI::Range(1, 4));
  cmd->add_option("--batch", a->batch, "samples per batch")->check(CLI::Range(1, 4096));
  cmd->add_option("--hidden", a->hidden, "expert width")->check(CLI::Range(8, 8192));
  cmd->add_option("--micro-batches", a->micro_batches, "GPipe micro-batches per batch")
    ->check(CLI::Range(1, 64));
  cmd->add_option("--window", a->window_s, "seconds each measurement runs at least")
    ->check(CLI::Range(1, 600));
  cmd->add_option("--capped-rate", a->capped_rate, "link rate of the compression runs");
  cmd->add_option("--csv", a->csv, "where the rows go (default: wan.csv in the run's directory)");
  cmd->add_option("--png", a->png, "where the figure goes (default: wan.png there)");
  cmd->add_option("--node-binary", a->node_binary, "dmoe-node (default: next to dmoe-bench)");
  cmd->add_option("--link-binary", a->link_binary, "dmoe-link (default: next to dmoe-bench)");
  cmd->add_option("--log-level", a->log_level, "this process's log level")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  cmd->callback([a] {
    if (auto rc = run_wan_bench(*a); rc != 0)
      std::exit(rc);
  });
}

}  // namespace dmoe::bench
