// `dmoe-bench wire`: what the wire guard (runtime/wire_guard.hpp) costs a call.
//
// One actor system publishes an echo actor twice on loopback: behind the guard
// (publish_guarded, dialed with dial_node: guarded sockets at both ends, every frame checked,
// requests noted and replies matched) and with CAF's own publish and remote_actor. Another actor
// system in the same process calls both with dmoe requests (an atom and a payload) answered with
// the payload, alternating between the two for each repeat. Per payload size it prints the
// median time per call through each and their ratio (guarded / plain: 1.0 means the guard costs
// nothing).
//
//   dmoe-bench wire [--calls 200] [--repeats 7]
#include <chrono>
#include <vector>

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <fmt/core.h>

#include "apps/bench/bench.hpp"
#include "messages/type_ids.hpp"
#include "runtime/node_config.hpp"
#include "runtime/node_dial.hpp"
#include "runtime/wire_guard.hpp"

namespace dmoe::bench {

namespace {

struct wire_options {
  int calls = 200;
  int repeats = 7;
};

caf::behavior echo(caf::event_based_actor* self) {
  accept_from_network(self->system(), self->id());
  return {[](expert_rpc_atom, payload& p) { return std::move(p); }};
}

/// Seconds per call of `calls` sequential calls with `bytes` of payload; negative on a failure.
double per_call(caf::actor_system& system, const caf::actor& target, size_t bytes, int calls) {
  caf::scoped_actor self{system};
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) {
    bool ok = false;
    self->request(target, std::chrono::seconds(30), expert_rpc_atom::value,
                  payload{std::vector<char>(bytes, 'w')})
      .receive([&](payload& p) { ok = p.bytes.size() == bytes; }, [](caf::error&) {});
    if (!ok)
      return -1;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / calls;
}

int run(const wire_options& opt) {
  node_config server_cfg;
  node_config client_cfg;
  if (server_cfg.parse_and_validate(std::vector<std::string>{})
      || client_cfg.parse_and_validate(std::vector<std::string>{}))
    return 2;
  caf::actor_system server{server_cfg};
  caf::actor_system client{client_cfg};
  auto guarded_echo = server.spawn(echo);
  auto plain_echo = server.spawn(echo);
  auto guarded_port = publish_guarded(server, guarded_echo, 0, "127.0.0.1", true);
  auto plain_port = server.middleman().publish(plain_echo, 0, "127.0.0.1", true);
  if (!guarded_port || !plain_port) {
    fmt::print(stderr, "wire bench: cannot publish on loopback\n");
    return 1;
  }
  auto guarded = dial_node(client, "127.0.0.1", *guarded_port, std::chrono::seconds(10));
  auto plain = client.middleman().remote_actor("127.0.0.1", *plain_port);
  if (!guarded || !plain) {
    fmt::print(stderr, "wire bench: cannot dial the echo actors\n");
    return 1;
  }
  fmt::print("wire guard cost: {} sequential calls per repeat, median of {} repeats, same process, "
             "loopback\n",
             opt.calls, opt.repeats);
  fmt::print("  {:>10}  {:>14}  {:>14}  {:>16}\n", "payload", "guarded us", "plain us",
             "guarded / plain");
  std::vector<std::pair<size_t, double>> ratios;
  for (size_t bytes : {size_t{100}, size_t{64} << 10, size_t{1} << 20}) {
    std::vector<double> with_guard;
    std::vector<double> without;
    per_call(client, *guarded, bytes, 10);  // warm-up
    per_call(client, *plain, bytes, 10);
    for (int r = 0; r < opt.repeats; ++r) {
      with_guard.push_back(per_call(client, *guarded, bytes, opt.calls));
      without.push_back(per_call(client, *plain, bytes, opt.calls));
    }
    auto g = median(with_guard);
    auto p = median(without);
    if (g <= 0 || p <= 0) {
      fmt::print(stderr, "wire bench: calls of {} bytes failed\n", bytes);
      return 1;
    }
    ratios.emplace_back(bytes, g / p);
    fmt::print("  {:>10}  {:>14.1f}  {:>14.1f}  {:>16.2f}\n", bytes, g * 1e6, p * 1e6, g / p);
  }
  fmt::print("summary: wire guard time per call vs plain CAF: 100 B {:.2f}, 64 KiB {:.2f}, "
             "1 MiB {:.2f}\n",
             ratios[0].second, ratios[1].second, ratios[2].second);
  server.middleman().unpublish(plain_echo, *plain_port);
  server.middleman().unpublish(guarded_echo, *guarded_port);
  caf::anon_send_exit(guarded_echo, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(plain_echo, caf::exit_reason::user_shutdown);
  return 0;
}

}  // namespace

void add_wire_bench(CLI::App& app) {
  auto opt = std::make_shared<wire_options>();
  auto* sub = app.add_subcommand("wire", "what the wire guard costs a call: guarded against "
                                         "plain CAF connections on loopback, in the same run");
  sub->add_option("--calls", opt->calls, "sequential calls per repeat")->check(CLI::PositiveNumber);
  sub->add_option("--repeats", opt->repeats, "repeats (the median is printed)")
    ->check(CLI::PositiveNumber);
  sub->callback([opt] {
    if (auto rc = run(*opt); rc != 0)
      std::exit(rc);
  });
}

}  // namespace dmoe::bench
