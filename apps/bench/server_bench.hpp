// Internal to `dmoe-bench server`: its options and the two hidden roles it runs as child
// processes (the expert server and a client), which talk to the parent over pipes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

namespace dmoe::bench {

struct server_bench_args {
  size_t experts = 16;
  int64_t hidden = 1024;
  int64_t batch = 256;
  size_t clients = 4;
  double seconds = 5;         // measured time per phase
  size_t max_batch = 1024;    // the server's max_batch_size
  double max_wait_ms = 2;     // the server's max_batch_wait
  size_t torch_threads = 2;   // intra-op threads of the in-process phases
  size_t compute_threads = 1; // the server's compute threads
  size_t server_torch_threads = 0;  // per server compute thread (0: torch_threads / compute_threads)
  size_t activation_mb = 1024;  // the server's activation memory (0: recompute every forward)
  int mm_n = 1024;
  bool tls = false;           // also measure the remote phase over TLS between swarm members
  // hidden roles
  std::string role;           // "", "server" or "client"
  uint16_t port = 0;
  size_t index = 0;           // client number
  bool warmup = false;        // client: one untimed round over every expert, then exit
  std::string tls_dir;        // TLS with the certificates here (ca.pem, server.*, client.*)
};

/// The intra-op threads of each of the server's compute threads.
inline size_t server_torch_threads(const server_bench_args& a) {
  if (a.server_torch_threads > 0)
    return a.server_torch_threads;
  return std::max<size_t>(1, a.torch_threads / std::max<size_t>(a.compute_threads, 1));
}

/// The expert a client calls in its round k: clients start spread over the experts.
inline size_t client_expert(const server_bench_args& a, size_t client, size_t k) {
  return (client * (a.experts / std::max<size_t>(a.clients, 1)) + k) % a.experts;
}

/// Child role: runs an expert server published on a free loopback port, prints "PORT <n>",
/// serves until its stdin closes, then prints "STATS <batches> <samples> <max_merged_callers>
/// <backward calls with kept activations> <backward calls recomputed>".
int run_server_role(const server_bench_args& args);

/// Child role: calls forward then backward on the server's experts in turn for args.seconds,
/// then prints "RESULT <rounds> <seconds> <errors>", "FWD <ms> ..." and "BWD <ms> ...".
/// With args.warmup, one round over every expert instead.
int run_client_role(const server_bench_args& args);

}  // namespace dmoe::bench
