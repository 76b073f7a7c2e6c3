// The DMoE layer end to end in one process: real actor system, in-process DHT, ffn expert hosts.
//   moe.layer:  outputs and gradients (input and gating weights) equal a local computation.
//   moe.faults: expired declarations, fewer than k_min, all experts dead, a server dying
//               mid-forward, a dead server that declares again.
#include "actors/trainer/model.hpp"
#include "tests/moe/moe_fixture.hpp"

using namespace dmoe;
using namespace dmoe::test;

namespace {

constexpr int64_t batch = 8;

}  // namespace

#undef CAF_SUITE
#define CAF_SUITE moe.layer
CAF_TEST_FIXTURE_SCOPE(layer_tests, moe_fixture)

CAF_TEST(outputs and gradients equal the same experts computed locally) {
  auto t = swarm.now() + 600;
  std::set<std::string> first_half;
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 4; ++b)
      first_half.insert(id_of(a, b));
  spawn_host("inproc-server:0", pick(first_half));
  spawn_host("inproc-server:1", all_but(first_half));
  declare(pick(first_half), "inproc-server:0", t);
  declare(all_but(first_half), "inproc-server:1", t);
  auto router = make_router(test_options());
  torch::manual_seed(1);
  RemoteMixtureOfExperts layer{system, router, features, features, test_options()};
  auto x = torch::randn({batch, features}).requires_grad_(true);
  auto target = torch::randn({batch, features});
  auto y = layer->forward(x);
  (y * target).sum().backward();
  // The layer chose each sample's brute-force top 4 of the 16 live experts.
  auto scores = all_scores(layer, x.detach());
  CAF_REQUIRE(layer->last_mask().all().item<bool>());
  for (int64_t b = 0; b < batch; ++b)
    CAF_CHECK_EQUAL(answered_ids(layer, b), top_ids(scores, b, 4));
  auto x_ref = x.detach().clone().requires_grad_(true);
  auto gates = gate_copies(layer);
  auto y_ref = local_mixture(x_ref, gates, layer->last_coords(), layer->last_mask(), experts);
  (y_ref * target).sum().backward();
  CAF_MESSAGE("max |y - y_ref| = " << max_abs_diff(y, y_ref));
  CAF_CHECK_LESS(max_abs_diff(y, y_ref), 1e-5);
  CAF_CHECK_LESS(max_abs_diff(x.grad(), x_ref.grad()), 1e-5);
  CAF_CHECK_LESS(max_abs_diff(layer->gate(0)->weight.grad(), gates[0].grad()), 1e-5);
  CAF_CHECK_LESS(max_abs_diff(layer->gate(0)->bias.grad(), gates[1].grad()), 1e-5);
  CAF_CHECK_LESS(max_abs_diff(layer->gate(1)->weight.grad(), gates[2].grad()), 1e-5);
  CAF_CHECK_LESS(max_abs_diff(layer->gate(1)->bias.grad(), gates[3].grad()), 1e-5);
  CAF_CHECK_GREATER(x.grad().abs().sum().item<double>(), 0.0);
  CAF_CHECK_GREATER(layer->gate(1)->weight.grad().abs().sum().item<double>(), 0.0);
  // The router's stats list what it called.
  auto experts_list = router_stats(router).experts;
  CAF_CHECK_GREATER(experts_list.size(), 0u);
  for (const auto& e : experts_list)
    CAF_CHECK(!e.id.empty() && !e.server.empty() && e.calls > 0);
}

CAF_TEST(replicas of one expert share the load) {
  auto t = swarm.now() + 600;
  auto a = spawn_host("inproc-server:a", experts);
  auto b = spawn_host("inproc-server:b", experts);
  declare(experts, "inproc-server:a", t);
  declare(experts, "inproc-server:b", t);
  auto router = make_router(test_options());
  RemoteMixtureOfExperts layer{system, router, features, features, test_options()};
  for (int step = 0; step < 6; ++step) {
    torch::NoGradGuard no_grad;
    layer->forward(torch::randn({batch, features}));
  }
  CAF_MESSAGE("forward calls: a " << a->forwards.load() << ", b " << b->forwards.load());
  CAF_CHECK_GREATER(a->forwards.load(), 0);
  CAF_CHECK_GREATER(b->forwards.load(), 0);
}

CAF_TEST(each DMoE layer of a model routes to its own grid) {
  ffn_map second;  // the same kind of experts under the second layer's grid, ffn-1
  for (const auto& [id, expert] : make_experts(43))
    second["ffn-1" + id.substr(3)] = expert;
  auto first_host = spawn_host("inproc-server:ffn", experts);
  auto second_host = spawn_host("inproc-server:ffn-1", second);
  declare(experts, "inproc-server:ffn", swarm.now() + 600);
  declare(second, "inproc-server:ffn-1", swarm.now() + 600);
  trainer_options t;
  t.hidden = features;
  t.moe_layers = 2;
  auto opt = test_options();
  DMoEClassifier model{system, make_router(opt), t, opt, 20, 10};
  torch::NoGradGuard no_grad;
  auto logits = model->forward(torch::randn({8, 20}));
  CAF_CHECK_EQUAL(logits.size(1), 10);
  CAF_MESSAGE("forward calls: grid ffn " << first_host->forwards << ", grid ffn-1 "
                                         << second_host->forwards);
  CAF_CHECK_GREATER(first_host->forwards.load(), 0);
  CAF_CHECK_GREATER(second_host->forwards.load(), 0);
}

CAF_TEST(the graph of a step is freed once the step is over) {
  auto t = swarm.now() + 600;
  spawn_host("inproc-server:all", experts);
  declare(experts, "inproc-server:all", t);
  auto router = make_router(test_options());
  RemoteMixtureOfExperts layer{system, router, features, features, test_options()};
  std::weak_ptr<torch::autograd::Node> remote_call;
  {
    auto x = torch::randn({batch, features}).requires_grad_(true);
    auto y = layer->forward(x);
    // Find the node of the remote call in the graph behind y.
    std::vector<std::shared_ptr<torch::autograd::Node>> open{y.grad_fn()};
    while (!open.empty() && remote_call.expired()) {
      auto node = open.back();
      open.pop_back();
      if (node->name().find("remote_experts_call") != std::string::npos)
        remote_call = node;
      for (const auto& edge : node->next_edges())
        if (edge.function)
          open.push_back(edge.function);
    }
    CAF_REQUIRE(!remote_call.expired());
    y.sum().backward();
  }
  layer->forward(torch::randn({batch, features}));  // the layer keeps only its last forward's
  // Nothing holds the first step's graph any more (before the fix, its node held its own
  // outputs and they it: every step's graph stayed in memory).
  CAF_CHECK(remote_call.expired());
}

CAF_TEST_FIXTURE_SCOPE_END()
