// Internal to `dmoe-bench server`: its options and the two hidden roles it runs as child
// processes (the expert server and a client), which talk to the parent over pipes.
#pragma once

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
  size_t torch_threads = 2;   // the server's and the in-process reference's intra-op threads
  int mm_n = 1024;
  // hidden roles
  std::string role;           // "", "server" or "client"
  uint16_t port = 0;
  size_t index = 0;           // client number
};

/// Child role: runs an expert server published on a free loopback port, prints "PORT <n>",
/// serves until its stdin closes, then prints "STATS <batches> <samples> <max_merged_callers>".
int run_server_role(const server_bench_args& args);

/// Child role: calls forward then backward on the server's experts in turn for args.seconds,
/// then prints "RESULT <rounds> <seconds> <errors>", "FWD <ms> ..." and "BWD <ms> ...".
int run_client_role(const server_bench_args& args);

}  // namespace dmoe::bench
