// A real (threaded) actor system with a 3-node in-process DHT, in-process ffn expert hosts that
// declare their experts the way expert servers do, a router and helpers to compute the same
// mixture locally.
#pragma once

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/test/unit_test.hpp>
#include <torch/nn/functional/activation.h>

#include "actors/dht/local_swarm.hpp"
#include "actors/moe/remote_moe.hpp"
#include "messages/declaration.hpp"
#include "actors/moe/router.hpp"
#include "actors/moe/supervisor.hpp"
#include "messages/expert_id.hpp"
#include "tests/moe/ffn_host.hpp"

namespace dmoe::test {

constexpr int64_t features = 16;
constexpr size_t dht_nodes = 3;

inline caf::actor_system_config& moe_test_config() {
  static caf::actor_system_config cfg;
  static bool ready = [] {
    register_types(cfg);
    cfg.set("scheduler.max-threads", 2);
    cfg.set("logger.verbosity", caf::atom("quiet"));
    return true;
  }();
  (void) ready;
  return cfg;
}

inline moe_options test_options() {
  moe_options opt;
  opt.grid = {4, 4};
  opt.k_best = 4;
  opt.k_min = 1;
  opt.forward_timeout = std::chrono::seconds(5);
  opt.timeout_after_k_min = std::chrono::seconds(1);
  opt.backward_timeout = std::chrono::seconds(5);
  return opt;
}

/// All 16 experts of the 4 x 4 grid, seeded.
inline ffn_map make_experts(uint64_t seed) {
  torch::manual_seed(seed);
  ffn_map out;
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b)
      out["ffn." + std::to_string(a) + "." + std::to_string(b)]
        = std::make_shared<const ffn_expert>(features, features);
  return out;
}

inline std::string id_of(int64_t a, int64_t b) {
  return "ffn." + std::to_string(a) + "." + std::to_string(b);
}

struct moe_fixture {
  caf::actor_system system{moe_test_config()};
  dht::local_swarm swarm{system, dht_nodes, long_lived_declarations()};

  /// The stand-in servers declare once, for up to 10 minutes, instead of every few seconds.
  static dht_options long_lived_declarations() {
    dht_options options;
    options.max_owned_ttl = std::chrono::minutes(15);
    return options;
  }
  ffn_map experts = make_experts(42);
  std::vector<caf::actor> hosts;
  std::vector<moe::router_actor> routers;

  ~moe_fixture() {
    for (auto& a : hosts)
      caf::anon_send_exit(a, caf::exit_reason::kill);
    for (auto& a : routers)
      caf::anon_send_exit(a, caf::exit_reason::kill);
  }

  /// Spawns a host of `subset` at `endpoint` (registered in the in-process directory).
  std::shared_ptr<host_counters> spawn_host(const std::string& endpoint, const ffn_map& subset,
                                            host_mode mode = host_mode::healthy) {
    auto counters = std::make_shared<host_counters>();
    auto host = system.spawn<caf::detached>(ffn_host, subset, counters, mode);
    hosts.push_back(host);
    swarm.directory->put(endpoint, host);
    return counters;
  }

  void declare(const ffn_map& subset, const std::string& endpoint, double expiration) {
    std::vector<std::string> ids;
    for (const auto& [id, expert] : subset)
      ids.push_back(id);
    for (const auto& e : declaration_entries(ids, endpoint))
      CAF_REQUIRE(dht::declare(system, swarm.nodes[0], e.key, e.label, e.value, expiration));
  }

  ffn_map pick(const std::set<std::string>& ids) const {
    ffn_map out;
    for (const auto& id : ids)
      out[id] = experts.at(id);
    return out;
  }

  ffn_map all_but(const std::set<std::string>& ids) const {
    ffn_map out;
    for (const auto& [id, e] : experts)
      if (ids.count(id) == 0)
        out[id] = e;
    return out;
  }

  moe::router_actor make_router(const moe_options& opt) {
    moe::router_setup setup;
    setup.options = opt;
    setup.dht = swarm.nodes[1];
    setup.directory = swarm.directory;
    auto clock_offset = swarm.clock_offset;
    setup.clock = [clock_offset] { return dht::wall_clock() + clock_offset->load(); };
    routers.push_back(moe::spawn_router(system, std::move(setup)));
    return routers.back();
  }

  /// A router under a supervisor (supervisor.hpp), used through the supervisor's handle.
  moe::supervisor_actor make_supervised_router(const moe_options& opt,
                                              moe::restart_policy policy = {}) {
    moe::router_setup setup;
    setup.options = opt;
    setup.dht = swarm.nodes[1];
    setup.directory = swarm.directory;
    auto clock_offset = swarm.clock_offset;
    setup.clock = [clock_offset] { return dht::wall_clock() + clock_offset->load(); };
    auto supervisor = moe::spawn_supervised_router(system, std::move(setup), policy);
    routers.push_back(supervisor);
    return supervisor;
  }

  template <class Handle>
  void kill_and_wait(const Handle& host) {
    caf::scoped_actor self{system};
    self->monitor(host);
    caf::anon_send_exit(host, caf::exit_reason::kill);
    bool down = false;
    self->receive([&](caf::down_msg&) { down = true; },
                  caf::after(std::chrono::seconds(5)) >> [] {});
    CAF_REQUIRE(down);
  }

  moe::router_stats router_stats(const moe::router_actor& router) {
    caf::scoped_actor self{system};
    moe::router_stats out;
    self->request(router, std::chrono::seconds(5), stats_atom::value)
      .receive([&](moe::router_stats& s) { out = std::move(s); },
               [](caf::error& err) { CAF_FAIL("no router stats: " << describe(err)); });
    return out;
  }
};

/// The experts' scores for every sample: [B, 16] in id order ffn.a.b -> a * 4 + b.
inline torch::Tensor all_scores(RemoteMixtureOfExperts& layer, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  auto s0 = layer->gate(0)->forward(x);
  auto s1 = layer->gate(1)->forward(x);
  return (s0.unsqueeze(2) + s1.unsqueeze(1)).reshape({x.size(0), 16});
}

/// Calls `fn(b, c0, c1)` for every slot the last forward got an answer for (sample b, expert
/// ffn.c0.c1), or only for sample `only` when it is not negative.
template <class F>
void for_each_answered(RemoteMixtureOfExperts& layer, F fn, int64_t only = -1) {
  auto coords = layer->last_coords();
  auto mask = layer->last_mask();
  auto first = only < 0 ? 0 : only;
  auto last = only < 0 ? coords.size(0) : only + 1;
  for (int64_t b = first; b < last; ++b)
    for (int64_t s = 0; s < coords.size(1); ++s)
      if (mask[b][s].item<bool>())
        fn(b, coords[b][s][0].item<int64_t>(), coords[b][s][1].item<int64_t>());
}

/// The experts that answered the last forward: for sample `only`, or for all samples.
inline std::set<std::string> answered_ids(RemoteMixtureOfExperts& layer, int64_t only = -1) {
  std::set<std::string> out;
  for_each_answered(layer, [&](int64_t, int64_t c0, int64_t c1) { out.insert(id_of(c0, c1)); },
                    only);
  return out;
}

/// Copies of the gating weights {w0, b0, w1, b1} that track their own gradients.
inline std::vector<torch::Tensor> gate_copies(RemoteMixtureOfExperts& layer) {
  std::vector<torch::Tensor> out;
  for (size_t d = 0; d < 2; ++d) {
    out.push_back(layer->gate(d)->weight.detach().clone().requires_grad_(true));
    out.push_back(layer->gate(d)->bias.detach().clone().requires_grad_(true));
  }
  return out;
}

/// The ids of sample b's `k` best experts (brute force over the whole grid).
inline std::set<std::string> top_ids(const torch::Tensor& scores, int64_t b, int64_t k) {
  auto best = std::get<1>(scores[b].topk(k));
  std::set<std::string> out;
  for (int64_t i = 0; i < k; ++i) {
    auto flat = best[i].item<int64_t>();
    out.insert(id_of(flat / 4, flat % 4));
  }
  return out;
}

/// The mixture computed locally with the same gating weights `gates` ({w0, b0, w1, b1}), the
/// experts given by `coords` [B, k, 2] where `mask` is set, softmax-renormalised over them.
inline torch::Tensor local_mixture(const torch::Tensor& x, const std::vector<torch::Tensor>& gates,
                                   const torch::Tensor& coords, const torch::Tensor& mask,
                                   const ffn_map& experts) {
  auto l0 = x.mm(gates[0].t()) + gates[1];
  auto l1 = x.mm(gates[2].t()) + gates[3];
  std::vector<torch::Tensor> rows;
  for (int64_t b = 0; b < x.size(0); ++b) {
    std::vector<torch::Tensor> scores, outputs;
    for (int64_t s = 0; s < coords.size(1); ++s) {
      if (!mask[b][s].item<bool>())
        continue;
      auto c0 = coords[b][s][0].item<int64_t>();
      auto c1 = coords[b][s][1].item<int64_t>();
      scores.push_back(l0[b][c0] + l1[b][c1]);
      outputs.push_back(experts.at(id_of(c0, c1))->forward(x.slice(0, b, b + 1))[0]);
    }
    if (scores.empty()) {
      rows.push_back(torch::zeros({features}));
      continue;
    }
    auto w = torch::softmax(torch::stack(scores), 0);
    rows.push_back((w.unsqueeze(1) * torch::stack(outputs)).sum(0));
  }
  return torch::stack(rows);
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

inline double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace dmoe::test
