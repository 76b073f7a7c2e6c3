// `dmoe-bench scale`: the paper's scale, thousands of experts on few servers.
//
// For each grid side G it starts a fresh swarm of real processes on loopback: a DHT bootstrap
// node, --servers expert servers sharing the G x G grid by rows (ffn experts of --hidden), and
// --trainers trainers (the Fashion-MNIST classifier, --workers batches in flight each) that
// train for --seconds. Per G it prints the trainers' samples/s and failed steps (summed), the
// servers' declaration round time (from a round's first store to its last answer), the DHT bytes
// per second the servers' DHT nodes sent and received while training, the servers' RSS and the
// experts' mean merged batch. At that batch of the 4,096 experts it then measures the expert
// compute against torch::mm on the same products and against grouped products over experts
// (grouped_compute.hpp). The reference is the same swarm at 1,024 experts, in the same run:
//   summary: experts=4096 samples/s=A (1024: B, ratio A/B=R); declare round=D s; failed steps=F
//
//   dmoe-bench scale [--quick] [--grids 16,32,64] [--servers 1] [--trainers 1] [--hidden 64]
//                    [--batch 128] [--workers 4] [--seconds 45]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <fmt/core.h>

#include "actors/dht/client.hpp"
#include "actors/inspector/inspector.hpp"
#include "apps/bench/bench.hpp"
#include "apps/bench/bench_processes.hpp"
#include "apps/bench/blas_info.hpp"
#include "apps/bench/grouped_compute.hpp"
#include "messages/type_ids.hpp"
#include "runtime/logging.hpp"
#include "runtime/node_config.hpp"
#include "runtime/experts/compute_pool.hpp"
#include "runtime/node_dial.hpp"
#include "tests/process_util.hpp"

namespace dmoe::bench {

namespace {

using namespace std::chrono_literals;
constexpr auto all_declared_limit = 180s;  // a run whose experts are not all declared by then fails
constexpr int64_t compute_round_experts = 64;  // experts of one measured compute round

struct scale_args {
  bool quick = false;
  std::vector<int> grids;
  int servers = 1;
  int64_t hidden = 64;
  int64_t batch = 128;
  int workers = 4;
  int trainers = 1;
  int seconds = 45;
  std::string node_binary;
};

struct grid_result {
  int side = 0;
  double samples_per_s = 0;
  int64_t failed_steps = -1;
  double declare_round_s = 0;  // the slowest server's last finished round
  double first_declared_s = 0; // from the servers' start until every expert was found
  double dht_bytes_per_s = 0;  // sent + received by the servers' DHT nodes while training
  double server_rss_mb = 0;    // the largest server's, at the end
  double servers_rss_mb = 0;   // all servers' together
  double rows_per_batch = 0;   // the experts' mean merged batch (samples / compute batches)
  bool ok = false;
};

/// The number after "key: " in the section of `text` that starts at "[section]" (a role) or
/// "section:" (an entry); nullopt when absent. `text` is the inspector's `stats` view.
std::optional<double> stat_in(const std::string& text, const std::string& section,
                              const std::string& key) {
  auto at = text.find("[" + section + "]");  // a role's group
  if (at == std::string::npos)
    at = text.find(section + ":");          // a nested entry
  if (at == std::string::npos)
    return std::nullopt;
  std::smatch m;
  std::string rest = text.substr(at);
  if (!std::regex_search(rest, m, std::regex{"\\b" + key + ": ([0-9.eE+-]+)"}))
    return std::nullopt;
  return std::stod(m[1].str());
}

/// The sum of every "key: N" or "key=N" (a list item) in the "[section]" group of `text`, e.g.
/// one per hosted expert.
double sum_in(const std::string& text, const std::string& section, const std::string& key) {
  auto at = text.find("[" + section + "]");
  if (at == std::string::npos)
    return 0;
  auto rest = text.substr(at);
  std::regex pattern{"\\b" + key + "(?:: |=)([0-9.eE+-]+)"};
  double sum = 0;
  for (std::sregex_iterator m{rest.begin(), rest.end(), pattern}, end; m != end; ++m)
    sum += std::stod((*m)[1].str());
  return sum;
}

/// The last row of a trainer's metrics CSV as column -> value.
std::map<std::string, std::string> last_csv_row(const std::string& path) {
  std::ifstream in{path};
  std::string header, line, last;
  std::getline(in, header);
  while (std::getline(in, line))
    if (!line.empty())
      last = line;
  std::map<std::string, std::string> out;
  std::istringstream names{header}, values{last};
  std::string name, value;
  while (std::getline(names, name, ',') && std::getline(values, value, ','))
    out[name] = value;
  return out;
}

class scale_run {
public:
  scale_run(const scale_args& a, int side) : a_(a), side_(side) {
    binary_ = a.node_binary.empty() ? own_dir() + "/dmoe-node" : a.node_binary;
    dir_ = test::temp_dir("scale-bench-" + std::to_string(side));
    cfg_.set("logger.verbosity", caf::atom("quiet"));
    system_ = std::make_unique<caf::actor_system>(cfg_);
  }

  ~scale_run() {
    if (dht_)
      caf::anon_send_exit(dht_, caf::exit_reason::user_shutdown);
    stop_all(procs_);
  }

  grid_result measure() {
    grid_result r;
    r.side = side_;
    if (!start_swarm())
      return r;
    auto started = std::chrono::steady_clock::now();
    dht_ = start_client_dht(*system_, "scale-bench/dht", bootstrap_);
    if (!wait_declared(*system_, dht_, "ffn", side_, side_, all_declared_limit)) {
      fmt::print(stderr, "scale bench: the {} experts were not all declared within {} s (logs in "
                         "{})\n", side_ * side_, all_declared_limit.count(), dir_);
      return r;
    }
    r.first_declared_s = seconds_since(started);
    auto dht_before = dht_bytes();
    auto trainer_started = std::chrono::steady_clock::now();
    std::vector<test::process> trainers;
    for (int t = 0; t < a_.trainers; ++t)
      trainers.push_back(start_trainer(t));
    auto limit = std::chrono::milliseconds((a_.seconds + 120) * 1000);
    r.ok = true;
    r.failed_steps = 0;
    for (int t = 0; t < a_.trainers; ++t) {
      auto status = test::wait_exit(trainers[static_cast<size_t>(t)].pid, limit);
      auto row = last_csv_row(fmt::format("{}/trainer-{}.csv", dir_, t));
      if (status != 0 || row.count("samples_per_s") == 0) {
        fmt::print(stderr, "scale bench: trainer {} exited with {} (log: {})\n", t, status,
                   trainers[static_cast<size_t>(t)].log_path);
        r.ok = false;
        continue;
      }
      r.samples_per_s += std::stod(row["samples_per_s"]);
      r.failed_steps += std::stoll(row["failed_steps"]);
    }
    auto trained_s = seconds_since(trainer_started);
    auto dht_after = dht_bytes();
    r.dht_bytes_per_s = dht_before && dht_after ? (*dht_after - *dht_before) / trained_s : std::nan("");
    double samples = 0, batches = 0;
    for (size_t i = 0; i < servers_.size(); ++i) {
      auto stats = server_stats_text(i);
      samples += sum_in(stats, "server", "samples");
      batches += sum_in(stats, "server", "batches");
      r.declare_round_s = std::max(r.declare_round_s,
                                   stat_in(stats, "declare", "last_round_ms").value_or(0) / 1000);
      auto rss = static_cast<double>(test::rss_bytes(servers_[i].pid)) / (1 << 20);
      r.server_rss_mb = std::max(r.server_rss_mb, rss);
      r.servers_rss_mb += rss;
    }
    r.rows_per_batch = batches > 0 ? samples / batches : 0;
    return r;
  }

private:
  static double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }

  bool start_swarm() {
    auto port = test::free_port();
    bootstrap_ = fmt::format("127.0.0.1:{}", port);
    procs_.push_back(test::launch({binary_, "--node.name=\"scale-dht\"", "--node.roles=[\"dht\"]",
                                   fmt::format("--node.port={}", port), "--node.log-level=\"warn\""},
                                  dir_ + "/dht.log"));
    if (!test::wait_listening(port, 20s)) {
      fmt::print(stderr, "scale bench: the DHT node did not start (log: {}/dht.log)\n", dir_);
      return false;
    }
    for (int i = 0; i < a_.servers; ++i) {
      int first = side_ * i / a_.servers;
      int last = side_ * (i + 1) / a_.servers;
      auto server_port = test::free_port();
      server_ports_.push_back(server_port);
      procs_.push_back(test::launch(
        {binary_, fmt::format("--node.name=\"scale-server-{}\"", i),
         "--node.roles=[\"dht\",\"server\",\"inspector\"]",
         fmt::format("--node.port={}", server_port), "--node.log-level=\"warn\"",
         fmt::format("--dht.bootstrap=[\"{}\"]", bootstrap_),
         fmt::format("--server.expert-pattern=\"ffn.[{}:{}].[0:{}]\"", first, last, side_),
         fmt::format("--server.hidden={}", a_.hidden), "--server.torch-threads=1",
         fmt::format("--server.seed={}", i + 1)},
        fmt::format("{}/server-{}.log", dir_, i)));
      servers_.push_back(procs_.back());
    }
    for (auto p : server_ports_)
      if (!test::wait_listening(p, 120s)) {
        fmt::print(stderr, "scale bench: a server did not start (logs in {})\n", dir_);
        return false;
      }
    return true;
  }

  test::process start_trainer(int t) {
    procs_.push_back(test::launch(
      {binary_, fmt::format("--node.name=\"scale-trainer-{}\"", t),
       "--node.roles=[\"dht\",\"trainer\"]",
       "--node.log-level=\"warn\"", fmt::format("--dht.bootstrap=[\"{}\"]", bootstrap_),
       fmt::format("--moe.grid=[{},{}]", side_, side_), "--moe.k-best=4",
       fmt::format("--trainer.hidden={}", a_.hidden),
       fmt::format("--trainer.batch-size={}", a_.batch),
       fmt::format("--trainer.workers={}", a_.workers), "--trainer.epochs=0",
       fmt::format("--trainer.max-time={}s", a_.seconds), "--trainer.eval-every=1000000",
       "--trainer.eval-samples=1024", fmt::format("--trainer.seed={}", t + 1),
       fmt::format("--trainer.metrics-csv=\"{}/trainer-{}.csv\"", dir_, t)},
      fmt::format("{}/trainer-{}.log", dir_, t)));
    return procs_.back();
  }

  std::string server_stats_text(size_t i) {
    auto inspector = dial_as<inspector_actor>(*system_, "127.0.0.1", server_ports_[i], 10s);
    if (!inspector)
      return {};
    caf::scoped_actor self{*system_};
    std::string text;
    self->request(*inspector, 20s, inspect_atom::value, std::string{"stats"})
      .receive([&](std::string& out) { text = std::move(out); }, [](caf::error&) {});
    return text;
  }

  /// Bytes the servers' DHT nodes sent and received so far; nullopt when one did not say.
  std::optional<double> dht_bytes() {
    double sum = 0;
    for (size_t i = 0; i < servers_.size(); ++i) {
      auto text = server_stats_text(i);
      auto sent = stat_in(text, "dht", "bytes_sent");
      auto received = stat_in(text, "dht", "bytes_received");
      if (!sent || !received)
        return std::nullopt;
      sum += *sent + *received;
    }
    return sum;
  }

  const scale_args& a_;
  int side_;
  std::string binary_, dir_, bootstrap_;
  node_config cfg_;
  std::unique_ptr<caf::actor_system> system_;
  dht::node_actor dht_;
  std::vector<test::process> procs_;
  std::vector<test::process> servers_;
  std::vector<uint16_t> server_ports_;
};

// The expert compute at the merged batch the 4,096 experts saw, against torch::mm on the same
// products and against grouped products over experts (grouped_compute.hpp).
void report_compute_efficiency(double rows_per_batch, int64_t hidden) {
  if (rows_per_batch <= 0)
    return;
  auto rows = std::max<int64_t>(1, std::llround(rows_per_batch));
  configure_torch_threads(1);
  auto f = measure_grouped_compute(compute_round_experts, rows, hidden);
  fmt::print("expert compute at {} rows per expert batch (hidden {}, {} experts in turn, 1 thread): "
             "{:.2f} GFLOPS; torch::mm alone on the same products {:.2f} GFLOPS (ratio {:.2f}); "
             "grouped products over the experts {:.2f} GFLOPS, pre-stacked {:.2f} (ratio to one "
             "by one {:.2f})\n",
             rows, hidden, compute_round_experts, f.per_expert_gflops, f.mm_gflops,
             f.per_expert_gflops / f.mm_gflops, f.grouped_gflops, f.prestacked_gflops,
             std::max(f.grouped_gflops, f.prestacked_gflops) / f.per_expert_gflops);
}

int run_scale_bench(scale_args a) {
  log::setup("warn");
  stop_launched_on_signals();
  if (a.grids.empty())
    a.grids = a.quick ? std::vector<int>{32, 64} : std::vector<int>{16, 32, 64};
  fmt::print("BLAS: {}\n", blas_in_use());
  fmt::print("{} server(s), ffn experts of hidden {}, {} trainer(s): batch {}, {} workers each, "
             "k_best 4, {} s of training per grid\n",
             a.servers, a.hidden, a.trainers, a.batch, a.workers, a.seconds);
  fmt::print("{:>7} {:>10} {:>8} {:>14} {:>14} {:>10} {:>10} {:>12} {:>10}\n", "experts",
             "samples/s", "failed", "declare round", "all declared", "DHT kB/s", "server MB",
             "servers MB", "rows/batch");
  std::map<int, grid_result> results;
  for (auto side : a.grids) {
    grid_result r;
    {
      scale_run run{a, side};
      r = run.measure();
    }
    results[side * side] = r;
    fmt::print("{:>7} {:>10.0f} {:>8} {:>12.2f} s {:>12.1f} s {:>10.1f} {:>10.0f} {:>12.0f} {:>10.1f}{}\n",
               side * side, r.samples_per_s, r.failed_steps, r.declare_round_s,
               r.first_declared_s, r.dht_bytes_per_s / 1000, r.server_rss_mb, r.servers_rss_mb,
               r.rows_per_batch, r.ok ? "" : "  (failed)");
  }
  if (results.count(4096) == 0 || results.count(1024) == 0) {
    fmt::print("summary: needs the grids 32 and 64\n");
    return 1;
  }
  const auto& big = results[4096];
  const auto& ref = results[1024];
  report_compute_efficiency(big.rows_per_batch, a.hidden);
  fmt::print("summary: experts=4096 samples/s={:.0f} (1024: {:.0f}, ratio A/B={:.2f}); declare "
             "round={:.2f} s; failed steps={}\n",
             big.samples_per_s, ref.samples_per_s,
             ref.samples_per_s > 0 ? big.samples_per_s / ref.samples_per_s : 0.0,
             big.declare_round_s, big.failed_steps);
  return big.ok && ref.ok ? 0 : 1;
}

}  // namespace

void add_scale_bench(CLI::App& app) {
  auto a = std::make_shared<scale_args>();
  auto* cmd = app.add_subcommand("scale", "thousands of experts: G x G grids on few servers, "
                                          "one trainer; throughput, declarations, DHT traffic, RSS");
  cmd->add_flag("--quick", a->quick, "grids 32 and 64 only (a few minutes)");
  cmd->add_option("--grids", a->grids, "grid sides (default 16,32,64)")
    ->delimiter(',')
    ->check(CLI::Range(1, 256));
  cmd->add_option("--servers", a->servers, "expert server processes")->check(CLI::Range(1, 64));
  cmd->add_option("--hidden", a->hidden, "expert and model width")->check(CLI::Range(8, 4096));
  cmd->add_option("--batch", a->batch, "samples per training step")->check(CLI::Range(1, 4096));
  cmd->add_option("--workers", a->workers, "batches in flight per trainer")->check(CLI::Range(1, 64));
  cmd->add_option("--trainers", a->trainers, "trainer processes")->check(CLI::Range(1, 16));
  cmd->add_option("--seconds", a->seconds, "training time per grid")->check(CLI::Range(5, 3600));
  cmd->add_option("--node-binary", a->node_binary, "dmoe-node (default: next to dmoe-bench)");
  cmd->callback([a] {
    if (auto rc = run_scale_bench(*a); rc != 0)
      std::exit(rc);
  });
}

}  // namespace dmoe::bench
