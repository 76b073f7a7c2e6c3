// The child processes of `dmoe-bench server`: the expert server and the clients.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <torch/types.h>

#include "actors/server/server.hpp"
#include "apps/bench/server_bench.hpp"
#include "messages/type_ids.hpp"
#include "runtime/expert_codec.hpp"
#include "runtime/logging.hpp"
#include "runtime/node_config.hpp"
#include "runtime/node_dial.hpp"
#include "runtime/wire_guard.hpp"

namespace dmoe::bench {

namespace {

constexpr const char* loopback = "127.0.0.1";
constexpr auto call_timeout = std::chrono::seconds(60);

std::string expert_id(size_t i) {
  return "ffn." + std::to_string(i);
}

/// The wire guard as on every dmoe node, TLS with `name`'s certificate when args.tls_dir is
/// set. Frames as big as a whole call: the bench sends calls in one message, not in parts.
bool guard_wire(caf::actor_system& sys, const server_bench_args& args, const std::string& name) {
  wire_guard_options guard;
  guard.log_name = "bench-" + name + "/wire";
  guard.max_frame_bytes = uint64_t{1} << 31;
  guard.max_pending_frame_bytes = uint64_t{1} << 34;
  guard.max_unsent_bytes = uint64_t{1} << 34;
  tls_options tls;
  if (!args.tls_dir.empty())
    tls = {args.tls_dir + "/ca.pem", args.tls_dir + "/" + name + ".pem",
           args.tls_dir + "/" + name + ".key"};
  if (auto err = set_wire_guard_options(sys, guard, tls)) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), describe(err).c_str());
    return false;
  }
  return true;
}

}  // namespace

int run_server_role(const server_bench_args& args) {
  log::setup("warn");
  node_config cfg;
  caf::actor_system sys{cfg};
  server_setup setup;
  setup.name = "bench-server";
  setup.options.expert_type = "ffn";
  setup.options.expert_pattern = "ffn.[0:" + std::to_string(args.experts) + "]";
  setup.options.hidden = args.hidden;
  setup.options.max_batch_size = args.max_batch;
  setup.options.max_batch_wait = std::chrono::microseconds(static_cast<int64_t>(args.max_wait_ms * 1000));
  setup.options.compute_threads = args.compute_threads;
  setup.options.activation_memory_mb = args.activation_mb;
  setup.options.torch_threads = server_torch_threads(args);
  setup.options.seed = 1;
  auto server = try_spawn_server(sys, setup);
  if (!server) {
    std::fprintf(stderr, "server: %s\n", describe(server.error()).c_str());
    return 1;
  }
  if (!guard_wire(sys, args, "server"))
    return 1;
  auto port = publish_guarded(sys, *server, 0, loopback, true);
  if (!port) {
    std::fprintf(stderr, "server: publish failed\n");
    return 1;
  }
  std::printf("PORT %u\n", static_cast<unsigned>(*port));
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }  // the parent closes our stdin when the clients are done (or when it dies)
  server_stats stats;
  caf::scoped_actor self{sys};
  self->request(*server, call_timeout, stats_atom::value)
    .receive([&](server_stats& s) { stats = std::move(s); }, [](caf::error&) {});
  int64_t batches = 0, samples = 0, max_merged = 0, used = 0, recomputed = 0;
  for (const auto& e : stats.experts) {
    batches += e.batches;
    samples += e.samples;
    max_merged = std::max(max_merged, e.max_merged_callers);
    used += e.activations_used;
    recomputed += e.recomputed;
  }
  std::printf("STATS %lld %lld %lld %lld %lld\n", static_cast<long long>(batches),
              static_cast<long long>(samples), static_cast<long long>(max_merged),
              static_cast<long long>(used), static_cast<long long>(recomputed));
  std::fflush(stdout);
  sys.middleman().unpublish(*server, *port);
  caf::anon_send_exit(*server, caf::exit_reason::user_shutdown);
  return 0;
}

int run_client_role(const server_bench_args& args) {
  log::setup("warn");
  node_config cfg;
  cfg.set("scheduler.max-threads", 1);
  caf::actor_system sys{cfg};
  if (!guard_wire(sys, args, "client"))
    return 1;
  auto server = dial_as<server_actor>(sys, loopback, args.port, std::chrono::seconds(30));
  if (!server) {
    std::fprintf(stderr, "client %zu: %s\n", args.index, describe(server.error()).c_str());
    return 1;
  }
  torch::manual_seed(100 + args.index);
  auto x = torch::randn({args.batch, args.hidden});
  auto g = torch::randn({args.batch, args.hidden}) * 1e-3;
  caf::scoped_actor self{sys};
  using clock = std::chrono::steady_clock;
  size_t errors = 0;
  auto note_error = [&](const caf::error& err) {
    if (errors++ == 0)
      std::fprintf(stderr, "client %zu: %s\n", args.index, describe(err).c_str());
  };
  // One blocking call; returns its latency in milliseconds.
  auto timed_call = [&](expert_call call) {
    auto start = clock::now();
    self->request(*server, call_timeout, expert_rpc_atom::value, encode(call))
      .receive(
        [&](payload& reply) {
          auto decoded = decode_expert_reply(std::move(reply));
          if (!decoded)
            note_error(decoded.error());
          else if (auto* err = std::get_if<caf::error>(&*decoded))
            note_error(*err);
        },
        [&](caf::error& err) { note_error(err); });
    return std::chrono::duration<double, std::milli>(clock::now() - start).count();
  };
  std::vector<double> forward_ms, backward_ms;
  size_t rounds = 0;
  auto start = clock::now();
  auto deadline = start + std::chrono::duration<double>(args.seconds);
  // Clients start on different experts and walk through all of them (client_expert).
  for (size_t k = 0; args.warmup ? k < args.experts : clock::now() < deadline; ++k) {
    auto id = expert_id(client_expert(args, args.index, k));
    forward_ms.push_back(timed_call(forward_call{id, {x}}));
    backward_ms.push_back(timed_call(backward_call{id, {x}, {g}}));
    ++rounds;
  }
  auto elapsed = std::chrono::duration<double>(clock::now() - start).count();
  std::printf("RESULT %zu %.6f %zu\n", rounds, elapsed, errors);
  for (auto [name, xs] : {std::pair{"FWD", &forward_ms}, std::pair{"BWD", &backward_ms}}) {
    std::printf("%s", name);
    for (auto v : *xs)
      std::printf(" %.3f", v);
    std::printf("\n");
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace dmoe::bench
