// `dmoe-bench server`: an expert server process and client processes over loopback TCP,
// against a plain LibTorch training step in one process, in the same run.
//
// The parent starts the server (a child running this binary in the hidden server role, experts
// ffn.0 .. ffn.<experts-1>); one warm-up client calls every expert once (first-touch of weights,
// gradients and Adam state out of the measurement), then `clients` client processes each call
// forward then backward with a [batch, hidden] tensor on the experts in turn for `seconds`. It
// reports forward+backward samples/s, per-call latency percentiles, the server's merged batch
// size and how many backward calls found their kept activations.
// Then, with the server gone, the plain in-process reference: what one process does without
// dmoe at the clients' batch size — the same ffn modules and Adam optimizers, taken in the order
// the clients call them (round-robin over the clients), each a forward with autograd, backward,
// gradient clipping and optimizer step (no recompute) — for the same time, after the same
// warm-up. The ratio of the two is printed as `ratio dmoe / plain in-process step: X.XX`.
// The plain step runs once more with glibc keeping freed memory (keep_freed_memory, as every
// dmoe server does), to show how much of the ratio that setting makes.
// With --tls the remote phase runs again, every connection TLS 1.3 between members of a swarm
// CA made for the run, and `ratio TLS / plain TCP` compares the two.
// Last, the expert compute itself: dmoe's expert backend in this process at the server's mean
// merged batch size (forward keeping activations, backward from them, optimizer step) in GFLOPS
// against torch::mm on square matrices and on the expert's own six products at that batch size
// (what the same matmuls cost bare: the target compares with this one).
//
//   dmoe-bench server [--experts 16] [--hidden 1024] [--batch 256] [--clients 4] [--seconds 5]
//                     [--max-batch 1024] [--max-wait-ms 2] [--torch-threads 2]
//                     [--compute-threads 1] [--server-torch-threads 0] [--activation-mb 1024]
//                     [--mm-n 1024] [--tls]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>
#include <torch/types.h>
#include <torch/nn/utils/clip_grad.h>

#include "apps/bench/bench.hpp"
#include "apps/bench/blas_info.hpp"
#include "apps/bench/server_bench.hpp"
#include "runtime/experts/compute_pool.hpp"
#include "runtime/experts/expert_backend.hpp"
#include "runtime/swarm_keys.hpp"

namespace dmoe::bench {

namespace {

constexpr double target_mm_ratio = 0.6;
constexpr double target_tls_ratio = 0.9;
// matmul FLOPs per sample of one ffn forward (two [h, 4h] products) and of its backward from
// kept activations (input and weight gradients of both)
constexpr double forward_flops = 16, backward_flops = 32;

// A child process running this binary with `args`; its stdout (and stdin) are pipes.
struct child {
  pid_t pid = -1;
  FILE* out = nullptr;
  int in_fd = -1;

  static child start(const std::vector<std::string>& args) {
    int out_pipe[2], in_pipe[2];
    if (pipe(out_pipe) != 0 || pipe(in_pipe) != 0)
      throw std::runtime_error("pipe failed");
    child c;
    c.pid = fork();
    if (c.pid == 0) {
      dup2(out_pipe[1], STDOUT_FILENO);
      dup2(in_pipe[0], STDIN_FILENO);
      for (int fd : {out_pipe[0], out_pipe[1], in_pipe[0], in_pipe[1]})
        close(fd);
      std::vector<char*> argv;
      for (auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv("/proc/self/exe", argv.data());
      _exit(127);
    }
    close(out_pipe[1]);
    close(in_pipe[0]);
    c.out = fdopen(out_pipe[0], "r");
    c.in_fd = in_pipe[1];
    return c;
  }

  // The next line of output, without the newline; empty at the end.
  std::string line() {
    std::string s;
    int ch;
    while ((ch = std::fgetc(out)) != EOF && ch != '\n')
      s.push_back(static_cast<char>(ch));
    return s;
  }

  void close_stdin() {
    if (in_fd >= 0)
      close(in_fd);
    in_fd = -1;
  }

  int wait() {
    close_stdin();
    int status = 0;
    waitpid(pid, &status, 0);
    if (out)
      fclose(out);
    out = nullptr;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
};

std::vector<std::string> role_args(const server_bench_args& a, const std::string& role) {
  return {"dmoe-bench", "server", "--role", role,
          "--experts", std::to_string(a.experts), "--hidden", std::to_string(a.hidden),
          "--batch", std::to_string(a.batch), "--clients", std::to_string(a.clients),
          "--seconds", std::to_string(a.seconds), "--max-batch", std::to_string(a.max_batch),
          "--max-wait-ms", std::to_string(a.max_wait_ms),
          "--torch-threads", std::to_string(a.torch_threads),
          "--compute-threads", std::to_string(a.compute_threads),
          "--server-torch-threads", std::to_string(a.server_torch_threads),
          "--activation-mb", std::to_string(a.activation_mb), "--port", std::to_string(a.port),
          "--index", std::to_string(a.index), "--warmup", a.warmup ? "1" : "0",
          "--tls-dir", a.tls_dir};
}

double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  return xs[std::min(xs.size() - 1, static_cast<size_t>(p * xs.size()))];
}

struct remote_figures {
  double samples_per_s = 0;
  size_t rounds = 0;
  size_t errors = 0;
  std::vector<double> forward_ms, backward_ms;
  long long batches = 0, samples = 0, max_merged = 0, kept_used = 0, recomputed = 0;
};

void fail(const std::string& what) {
  fmt::print(stderr, "server bench: {}\n", what);
  std::exit(1);
}

remote_figures run_remote(server_bench_args args) {
  remote_figures fig;
  auto server = child::start(role_args(args, "server"));
  auto port_line = server.line();
  if (port_line.rfind("PORT ", 0) != 0)
    fail("the server process did not start (" + port_line + ")");
  args.port = static_cast<uint16_t>(std::stoi(port_line.substr(5)));
  {
    auto warm = args;
    warm.warmup = true;
    auto warmer = child::start(role_args(warm, "client"));
    while (!warmer.line().empty()) {
    }
    if (warmer.wait() != 0)
      fail("the warm-up client failed");
  }
  std::vector<child> clients;
  for (size_t i = 0; i < args.clients; ++i) {
    args.index = i;
    clients.push_back(child::start(role_args(args, "client")));
  }
  for (auto& c : clients) {
    for (auto line = c.line(); !line.empty(); line = c.line()) {
      std::istringstream in{line};
      std::string tag;
      in >> tag;
      if (tag == "RESULT") {
        size_t rounds = 0, errors = 0;
        double seconds = 1;
        in >> rounds >> seconds >> errors;
        fig.rounds += rounds;
        fig.errors += errors;
        fig.samples_per_s += static_cast<double>(rounds * args.batch) / seconds;
      } else {
        auto& xs = tag == "FWD" ? fig.forward_ms : fig.backward_ms;
        for (double v; in >> v;)
          xs.push_back(v);
      }
    }
    if (c.wait() != 0)
      fail("a client process failed");
  }
  server.close_stdin();
  auto stats = server.line();
  std::istringstream in{stats};
  std::string tag;
  in >> tag >> fig.batches >> fig.samples >> fig.max_merged >> fig.kept_used >> fig.recomputed;
  server.wait();
  return fig;
}

// The remote phase again with every connection TLS between members of a swarm CA made for it.
remote_figures run_remote_over_tls(server_bench_args args) {
  char dir_template[] = "/tmp/dmoe-bench-tls-XXXXXX";
  if (mkdtemp(dir_template) == nullptr)
    fail("cannot make a directory for the TLS certificates");
  std::string dir = dir_template;
  if (create_swarm_ca(dir + "/ca") || issue_node_certificate(dir + "/ca", "server", dir + "/keys")
      || issue_node_certificate(dir + "/ca", "client", dir + "/keys"))
    fail("cannot make the TLS certificates in " + dir);
  args.tls_dir = dir + "/keys";
  auto fig = run_remote(args);
  std::filesystem::remove_all(dir);
  if (fig.errors > 0)
    fail(std::to_string(fig.errors) + " calls over TLS failed");
  return fig;
}

using bench_clock = std::chrono::steady_clock;

// The plain reference: LibTorch modules and optimizers, no dmoe in between, at the clients'
// batch size and in their order of experts.
double run_plain_step(const server_bench_args& args) {
  configure_torch_threads(args.torch_threads);
  optimizer_settings settings;  // the server's defaults: adam, clipping at norm 1
  struct expert {
    std::shared_ptr<expert_module> module;
    std::unique_ptr<torch::optim::Optimizer> optimizer;
  };
  std::vector<expert> experts;
  for (size_t i = 0; i < args.experts; ++i) {
    auto m = *make_expert("ffn", args.hidden, i + 1);
    auto opt = std::move(*make_optimizer(settings, m->parameters()));
    experts.push_back({m, std::move(opt)});
  }
  std::vector<torch::Tensor> xs, gs;
  for (size_t c = 0; c < args.clients; ++c) {
    xs.push_back(torch::randn({args.batch, args.hidden}));
    gs.push_back(torch::randn({args.batch, args.hidden}) * 1e-3);
  }
  auto step = [&](expert& e, const torch::Tensor& x, const torch::Tensor& g) {
    auto leaf = x.detach().requires_grad_(true);
    e.optimizer->zero_grad();
    auto y = e.module->forward({leaf})[0];
    y.backward(g);
    torch::nn::utils::clip_grad_norm_(e.module->parameters(), settings.clip_grad_norm);
    e.optimizer->step();
  };
  for (auto& e : experts)  // the warm-up, as the server gets one
    step(e, xs[0], gs[0]);
  auto start = bench_clock::now();
  auto deadline = start + std::chrono::duration<double>(args.seconds);
  size_t calls = 0;
  for (size_t k = 0; bench_clock::now() < deadline; ++k)
    for (size_t c = 0; c < args.clients && bench_clock::now() < deadline; ++c) {
      step(experts[client_expert(args, c, k)], xs[c], gs[c]);
      ++calls;
    }
  auto elapsed = std::chrono::duration<double>(bench_clock::now() - start).count();
  return static_cast<double>(calls * args.batch) / elapsed;
}

// dmoe's expert backends alone, in this process: forward (keeping activations) then backward
// at `batch` rows on the experts in turn. Returns samples/s.
double run_expert_compute(const server_bench_args& args, int64_t batch) {
  configure_torch_threads(args.torch_threads);
  std::vector<std::shared_ptr<expert_backend>> experts;
  for (size_t i = 0; i < args.experts; ++i)
    experts.push_back(*expert_backend::create("ffn." + std::to_string(i), "ffn", args.hidden,
                                              optimizer_settings{}, i + 1,
                                              activation_settings{size_t{1} << 30}));
  auto x = torch::randn({batch, args.hidden});
  auto g = torch::randn({batch, args.hidden}) * 1e-3;
  auto round = [&](expert_backend& e) {
    if (!e.forward({x}) || !e.backward({x}, {g}))
      fail("the in-process expert failed");
  };
  for (auto& e : experts)
    round(*e);
  auto start = bench_clock::now();
  auto deadline = start + std::chrono::duration<double>(args.seconds);
  size_t rounds = 0;
  for (size_t k = 0; bench_clock::now() < deadline; ++k, ++rounds)
    round(*experts[k % experts.size()]);
  auto elapsed = std::chrono::duration<double>(bench_clock::now() - start).count();
  return static_cast<double>(rounds * batch) / elapsed;
}

void run_server_bench(const server_bench_args& args) {
  if (args.role == "server")
    std::exit(run_server_role(args));
  if (args.role == "client")
    std::exit(run_client_role(args));
  if (args.role == "reference") {  // the plain step alone, for tuning thread settings
    auto plain = run_plain_step(args);
    fmt::print("plain in-process step at batch {}: {:.1f} samples/s\n", args.batch, plain);
    std::exit(0);
  }
  if (args.role == "compute") {  // the expert compute alone, for profiling
    keep_freed_memory();
    auto compute = run_expert_compute(args, args.batch);
    fmt::print("expert compute in-process at batch {}: {:.1f} samples/s\n", args.batch, compute);
    std::exit(0);
  }
  fmt::print("dmoe-bench server: {} ffn experts, hidden {}, batch {}, {} client processes, {} s "
             "per phase; server: {} compute threads x {} torch threads, activation memory {} MiB; "
             "in-process phases: {} torch threads\n",
             args.experts, args.hidden, args.batch, args.clients, args.seconds, args.compute_threads,
             server_torch_threads(args), args.activation_mb, args.torch_threads);
  auto remote = run_remote(args);
  if (remote.errors > 0)
    fail(std::to_string(remote.errors) + " calls failed");
  std::optional<remote_figures> over_tls;
  if (args.tls)
    over_tls = run_remote_over_tls(args);
  auto merged = remote.batches > 0 ? static_cast<double>(remote.samples) / remote.batches
                                   : static_cast<double>(args.batch);
  auto plain = run_plain_step(args);
  keep_freed_memory();  // what every dmoe server does (compute_pool.hpp); from here on
  auto plain_kept = run_plain_step(args);
  auto merged_batch = std::max<int64_t>(1, static_cast<int64_t>(merged + 0.5));
  auto compute = run_expert_compute(args, merged_batch);
  auto mm = mm_gflops(args.mm_n);
  auto shaped_mm = ffn_products_gflops(merged_batch, static_cast<int64_t>(args.hidden));
  auto h2 = static_cast<double>(args.hidden) * args.hidden;
  auto plain_gflops = plain * (forward_flops + backward_flops) * h2 / 1e9;
  auto compute_gflops = compute * (forward_flops + backward_flops) * h2 / 1e9;
  auto backward_calls = remote.kept_used + remote.recomputed;
  fmt::print("BLAS: {}\n", blas_in_use());
  fmt::print("dmoe over loopback TCP: {:.1f} samples/s forward+backward ({} rounds)\n",
             remote.samples_per_s, remote.rounds);
  fmt::print("  forward  latency p50 {:.1f} ms, p99 {:.1f} ms\n", percentile(remote.forward_ms, 0.5),
             percentile(remote.forward_ms, 0.99));
  fmt::print("  backward latency p50 {:.1f} ms, p99 {:.1f} ms\n",
             percentile(remote.backward_ms, 0.5), percentile(remote.backward_ms, 0.99));
  fmt::print("  server: {} batches, mean merged batch {:.1f} samples, max merged callers {}; "
             "backward calls from kept activations {} of {}\n",
             remote.batches, merged, remote.max_merged, remote.kept_used, backward_calls);
  if (over_tls) {
    fmt::print("dmoe over loopback TLS 1.3 between swarm members: {:.1f} samples/s forward+backward "
               "({} rounds; forward p50 {:.1f} ms, backward p50 {:.1f} ms)\n",
               over_tls->samples_per_s, over_tls->rounds, percentile(over_tls->forward_ms, 0.5),
               percentile(over_tls->backward_ms, 0.5));
    fmt::print("ratio TLS / plain TCP: {:.2f} (target >= {})\n",
               over_tls->samples_per_s / remote.samples_per_s, target_tls_ratio);
  }
  fmt::print("plain in-process step at batch {} (autograd, no recompute, the clients' order of "
             "experts): {:.1f} samples/s ({:.1f} GFLOPS)\n",
             args.batch, plain, plain_gflops);
  fmt::print("  the same with glibc keeping freed memory as dmoe servers do: {:.1f} samples/s\n",
             plain_kept);
  fmt::print("ratio dmoe / plain in-process step: {:.2f}\n", remote.samples_per_s / plain);
  fmt::print("  (against the step with glibc keeping freed memory: {:.2f})\n",
             remote.samples_per_s / plain_kept);
  fmt::print("  targets: >= 0.95 with --experts 16 --batch 256 --clients 4; >= 3.0 with --experts 4 "
             "--batch 16 --clients 16\n");
  fmt::print("expert compute in-process at the merged batch {}: {:.1f} samples/s ({:.1f} GFLOPS); "
             "torch::mm {}x{}: {:.1f} GFLOPS; expert compute / square mm: {:.3f}\n",
             merged_batch, compute, compute_gflops, args.mm_n, args.mm_n, mm, compute_gflops / mm);
  fmt::print("torch::mm alone on the expert's six products at batch {}: {:.1f} GFLOPS; expert "
             "compute / mm at the merged batch: {:.3f} (target >= {})\n",
             merged_batch, shaped_mm, compute_gflops / shaped_mm, target_mm_ratio);
}

}  // namespace

void add_server_bench(CLI::App& app) {
  auto args = std::make_shared<server_bench_args>();
  auto* cmd = app.add_subcommand("server", "an expert server and client processes over loopback "
                                           "TCP vs the same LibTorch work in-process");
  cmd->add_option("--experts", args->experts, "experts hosted (ffn.0 ..)")->check(CLI::Range(1, 1024));
  cmd->add_option("--hidden", args->hidden, "hidden size")->check(CLI::Range(1, 16384));
  cmd->add_option("--batch", args->batch, "samples per call")->check(CLI::Range(1, 65536));
  cmd->add_option("--clients", args->clients, "client processes")->check(CLI::Range(1, 64));
  cmd->add_option("--seconds", args->seconds, "measured seconds per phase")->check(CLI::Range(0.1, 600.0));
  cmd->add_option("--max-batch", args->max_batch, "the server's max batch size")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--max-wait-ms", args->max_wait_ms, "the server's max batch wait")->check(CLI::Range(0.0, 1000.0));
  cmd->add_option("--torch-threads", args->torch_threads, "LibTorch intra-op threads")->check(CLI::Range(1, 64));
  cmd->add_option("--compute-threads", args->compute_threads, "the server's compute threads")->check(CLI::Range(1, 64));
  cmd->add_option("--server-torch-threads", args->server_torch_threads,
                  "intra-op threads per server compute thread (0: torch-threads / compute-threads)")->check(CLI::Range(0, 64));
  cmd->add_option("--activation-mb", args->activation_mb, "the server's activation memory in MiB (0: recompute)")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--mm-n", args->mm_n, "matrix size of the torch::mm reference")->check(CLI::Range(16, 8192));
  cmd->add_option("--role", args->role, "internal: child role")->group("");
  cmd->add_option("--port", args->port, "internal: server port")->group("");
  cmd->add_option("--index", args->index, "internal: client number")->group("");
  cmd->add_flag("--tls", args->tls, "also run the remote phase over TLS between swarm members "
                                     "and print its ratio to plain TCP");
  cmd->add_option("--warmup", args->warmup, "internal: warm-up client")->group("");
  cmd->add_option("--tls-dir", args->tls_dir, "internal: the children's certificates")->group("");
  cmd->callback([args] { run_server_bench(*args); });
}

}  // namespace dmoe::bench
