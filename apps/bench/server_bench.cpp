// `dmoe-bench server`: an expert server process and client processes over loopback TCP,
// against the same LibTorch work done in-process without dmoe, in the same run.
//
// The parent starts the server (a child running this binary in the hidden server role, experts
// ffn.0 .. ffn.<experts-1>), then `clients` client processes that each call forward then
// backward with a [batch, hidden] tensor on the experts in turn for `seconds`. It reports
// forward+backward samples/s, per-call latency percentiles and the server's merged batch size.
// Then, with the server gone, it runs the reference in this process: the same ffn modules and
// Adam optimizers, forward without autograd + backward with recompute + optimizer step at the
// server's mean merged batch size, for the same time. Last, torch::mm GFLOPS and the BLAS.
//
//   dmoe-bench server [--experts 16] [--hidden 1024] [--batch 256] [--clients 4] [--seconds 5]
//                     [--max-batch 1024] [--max-wait-ms 2] [--torch-threads 2] [--mm-n 1024]
#include <algorithm>
#include <chrono>
#include <cstdio>
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

namespace dmoe::bench {

namespace {

constexpr double target_ratio = 0.9;
constexpr double target_mm_ratio = 0.8;

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
          "--torch-threads", std::to_string(a.torch_threads), "--port", std::to_string(a.port),
          "--index", std::to_string(a.index)};
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
  long long batches = 0, samples = 0, max_merged = 0;
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
  in >> tag >> fig.batches >> fig.samples >> fig.max_merged;
  server.wait();
  return fig;
}

// The reference: plain LibTorch modules and optimizers, no dmoe in between.
double run_in_process(const server_bench_args& args, int64_t batch) {
  configure_torch_threads(args.torch_threads);  // the server's compute threads do the same
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
  auto x = torch::randn({batch, args.hidden});
  auto g = torch::randn({batch, args.hidden}) * 1e-3;
  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  auto deadline = start + std::chrono::duration<double>(args.seconds);
  size_t rounds = 0;
  for (size_t k = 0; clock::now() < deadline; ++k) {
    auto& e = experts[k % experts.size()];
    {
      torch::NoGradGuard no_grad;
      e.module->forward({x});
    }
    auto leaf = x.detach().requires_grad_(true);
    e.optimizer->zero_grad();
    auto y = e.module->forward({leaf})[0];
    y.backward(g);
    torch::nn::utils::clip_grad_norm_(e.module->parameters(), settings.clip_grad_norm);
    e.optimizer->step();
    ++rounds;
  }
  auto elapsed = std::chrono::duration<double>(clock::now() - start).count();
  return static_cast<double>(rounds * batch) / elapsed;
}

void run_server_bench(const server_bench_args& args) {
  if (args.role == "server")
    std::exit(run_server_role(args));
  if (args.role == "client")
    std::exit(run_client_role(args));
  if (args.role == "reference") {  // the in-process phase alone, for tuning thread settings
    auto local = run_in_process(args, args.batch);
    fmt::print("in-process LibTorch at batch {}: {:.1f} samples/s ({:.1f} GFLOPS)\n", args.batch,
               local, local * 64.0 * args.hidden * args.hidden / 1e9);
    std::exit(0);
  }
  fmt::print("dmoe-bench server: {} ffn experts, hidden {}, batch {}, {} client processes, {} s "
             "per phase, {} torch threads\n",
             args.experts, args.hidden, args.batch, args.clients, args.seconds, args.torch_threads);
  auto remote = run_remote(args);
  if (remote.errors > 0)
    fail(std::to_string(remote.errors) + " calls failed");
  auto merged = remote.batches > 0 ? static_cast<double>(remote.samples) / remote.batches
                                   : static_cast<double>(args.batch);
  auto ref_batch = std::max<int64_t>(1, static_cast<int64_t>(merged + 0.5));
  auto local = run_in_process(args, ref_batch);
  auto mm = mm_gflops(args.mm_n);
  // matmul work per sample: forward 16 h^2 FLOPs; backward = recomputed forward (16 h^2) plus
  // gradients w.r.t. inputs and weights (32 h^2)
  auto flops_per_sample = 64.0 * static_cast<double>(args.hidden) * args.hidden;
  auto local_gflops = local * flops_per_sample / 1e9;
  auto remote_gflops = remote.samples_per_s * flops_per_sample / 1e9;
  fmt::print("BLAS: {}\n", blas_in_use());
  fmt::print("dmoe over loopback TCP: {:.1f} samples/s forward+backward ({} rounds, {:.1f} GFLOPS)\n",
             remote.samples_per_s, remote.rounds, remote_gflops);
  fmt::print("  forward  latency p50 {:.1f} ms, p99 {:.1f} ms\n", percentile(remote.forward_ms, 0.5),
             percentile(remote.forward_ms, 0.99));
  fmt::print("  backward latency p50 {:.1f} ms, p99 {:.1f} ms\n",
             percentile(remote.backward_ms, 0.5), percentile(remote.backward_ms, 0.99));
  fmt::print("  server: {} batches, mean merged batch {:.1f} samples, max merged callers {}\n",
             remote.batches, merged, remote.max_merged);
  fmt::print("in-process LibTorch at batch {}: {:.1f} samples/s ({:.1f} GFLOPS)\n", ref_batch,
             local, local_gflops);
  fmt::print("ratio dmoe / in-process: {:.3f} (target >= {})\n", remote.samples_per_s / local,
             target_ratio);
  fmt::print("torch::mm {}x{}: {:.1f} GFLOPS; expert compute / mm: {:.3f} (target >= {})\n",
             args.mm_n, args.mm_n, mm, local_gflops / mm, target_mm_ratio);
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
  cmd->add_option("--mm-n", args->mm_n, "matrix size of the torch::mm reference")->check(CLI::Range(16, 8192));
  cmd->add_option("--role", args->role, "internal: child role")->group("");
  cmd->add_option("--port", args->port, "internal: server port")->group("");
  cmd->add_option("--index", args->index, "internal: client number")->group("");
  cmd->callback([args] { run_server_bench(*args); });
}

}  // namespace dmoe::bench
