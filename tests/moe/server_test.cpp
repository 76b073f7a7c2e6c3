// moe.server: the layer against the real expert server (actors/server) in the same process: it
// declares its experts in the in-process DHT itself, batches the router's calls, and the layer's
// outputs and gradients equal the same experts (same type, width and seeds) computed locally.
#include <map>

#include "actors/server/server.hpp"
#include "runtime/experts/expert_module.hpp"
#include "messages/expert_pattern.hpp"
#include "tests/moe/moe_fixture.hpp"

using namespace dmoe;
using namespace dmoe::test;

namespace {

constexpr int64_t batch = 8;
constexpr uint64_t seed = 77;
constexpr const char* server_endpoint = "inproc-server:real";

/// The layer's mixture recomputed with local copies of the experts (same type, width, seeds)
/// for the routing the layer chose; its gradients land in the returned copies.
struct local_reference {
  torch::Tensor y;
  torch::Tensor x;                   // with .grad() after backward
  std::vector<torch::Tensor> gates;  // weight0, bias0, weight1, bias1, each with .grad()
};

local_reference local_mixture(RemoteMixtureOfExperts& layer, const torch::Tensor& x,
                              const torch::Tensor& target) {
  std::map<std::string, std::shared_ptr<expert_module>> local;
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b) {
      auto expert = make_expert("ffn", features, expert_seed(seed, id_of(a, b)));
      CAF_REQUIRE(expert);
      local[id_of(a, b)] = *expert;
    }
  local_reference ref;
  ref.x = x.detach().clone().requires_grad_(true);
  for (size_t d = 0; d < 2; ++d) {
    ref.gates.push_back(layer->gate(d)->weight.detach().clone().requires_grad_(true));
    ref.gates.push_back(layer->gate(d)->bias.detach().clone().requires_grad_(true));
  }
  auto coords = layer->last_coords();
  auto l0 = ref.x.mm(ref.gates[0].t()) + ref.gates[1];
  auto l1 = ref.x.mm(ref.gates[2].t()) + ref.gates[3];
  std::vector<torch::Tensor> rows_out;
  for (int64_t b = 0; b < x.size(0); ++b) {
    std::vector<torch::Tensor> scores, outputs;
    for (int64_t s = 0; s < coords.size(1); ++s) {
      auto c0 = coords[b][s][0].item<int64_t>();
      auto c1 = coords[b][s][1].item<int64_t>();
      scores.push_back(l0[b][c0] + l1[b][c1]);
      outputs.push_back(local.at(id_of(c0, c1))->forward({ref.x.slice(0, b, b + 1)})[0][0]);
    }
    auto w = torch::softmax(torch::stack(scores), 0);
    rows_out.push_back((w.unsqueeze(1) * torch::stack(outputs)).sum(0));
  }
  ref.y = torch::stack(rows_out);
  (ref.y * target).sum().backward();
  return ref;
}

struct server_fixture : moe_fixture {
  /// A real expert server hosting the 4x4 grid, declared in the in-process DHT.
  /// `frozen`: learning rate 0, so an expert called several times in one backward (calls split
  /// by max-batch-size) still answers with the weights the local reference has.
  void start_server(compression_kind compression, size_t max_batch_size = 1024,
                    bool frozen = false, const std::string& expert_type = "ffn",
                    size_t max_tokens = 1024) {
    server_setup setup;
    setup.name = "moe-test/server";
    setup.options.expert_pattern = "ffn.[0:4].[0:4]";
    setup.options.expert_type = expert_type;
    setup.options.max_tokens = max_tokens;
    setup.options.hidden = features;
    setup.options.seed = seed;
    setup.options.declare_period = std::chrono::seconds(1);
    setup.options.compression = compression;
    setup.options.max_batch_size = max_batch_size;
    if (frozen)
      setup.options.learning_rate = 0;
    setup.dht = swarm.nodes[2];
    setup.endpoint = server_endpoint;
    auto server = try_spawn_server(system, setup);
    CAF_REQUIRE(server);
    hosts.push_back(caf::actor_cast<caf::actor>(*server));
    swarm.directory->put(server_endpoint, *server);
    // Wait (bounded) until the server has declared every row of the grid.
    size_t rows = 0;
    for (int attempt = 0; attempt < 100 && rows < 4; ++attempt) {
      rows = dht::declared_children(system, swarm.nodes[0], "ffn.");
      if (rows < 4)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CAF_REQUIRE_EQUAL(rows, 4u);
  }

  /// One forward+backward through a server sending with `compression`, the layer's calls
  /// compressed the same way, next to the same mixture computed locally.
  struct remote_pass {
    torch::Tensor x;
    torch::Tensor y;
    local_reference ref;
    moe_layer_report report;
    std::vector<torch::Tensor> gate_grads;
  };

  remote_pass pass_through_server(compression_kind compression, int64_t rows = batch,
                                  size_t max_batch_size = 1024, bool frozen = false) {
    start_server(compression, max_batch_size, frozen);
    auto opt = test_options();
    opt.compression = compression;
    auto router = make_router(opt);
    torch::manual_seed(11);
    RemoteMixtureOfExperts layer{system, router, features, features, opt};
    auto x = torch::randn({rows, features}).requires_grad_(true);
    auto target = torch::randn({rows, features});
    auto y = layer->forward(x);
    (y * target).sum().backward();
    CAF_REQUIRE(layer->last_mask().all().item<bool>());
    auto ref = local_mixture(layer, x, target);
    return {x, y, ref, layer->report(),
            {layer->gate(0)->weight.grad(), layer->gate(1)->weight.grad()}};
  }
};

}  // namespace

#undef CAF_SUITE
#define CAF_SUITE moe.server
CAF_TEST_FIXTURE_SCOPE(server_tests, server_fixture)

CAF_TEST(outputs and gradients through the real server equal the local experts) {
  auto run = pass_through_server(compression_kind::none);
  CAF_MESSAGE("max |y - y_ref| = " << max_abs_diff(run.y, run.ref.y) << ", max |dx - dx_ref| = "
                                   << max_abs_diff(run.x.grad(), run.ref.x.grad()));
  CAF_CHECK_LESS(max_abs_diff(run.y, run.ref.y), 1e-5);
  CAF_CHECK_LESS(max_abs_diff(run.x.grad(), run.ref.x.grad()), 1e-5);
  CAF_CHECK_LESS(max_abs_diff(run.gate_grads[0], run.ref.gates[0].grad()), 1e-5);
  CAF_CHECK_LESS(max_abs_diff(run.gate_grads[1], run.ref.gates[2].grad()), 1e-5);
  CAF_CHECK_EQUAL(run.report.backward.calls, run.report.forward.calls);
}

CAF_TEST(float16 on the wire both ways stays within float16 precision of the local experts) {
  auto run = pass_through_server(compression_kind::float16);
  auto dy = max_abs_diff(run.y, run.ref.y);
  auto dx = max_abs_diff(run.x.grad(), run.ref.x.grad());
  auto y_scale = run.ref.y.abs().max().item<double>();
  auto x_scale = run.ref.x.grad().abs().max().item<double>();
  CAF_MESSAGE("float16: max |y - y_ref| = " << dy << " of " << y_scale << ", max |dx - dx_ref| = "
                                            << dx << " of " << x_scale);
  // float16 keeps 11 significant bits (relative error 2^-11 per value); inputs, outputs, the
  // backward's inputs and gradients are each rounded once.
  CAF_CHECK_LESS(dy, 1e-2 * y_scale);
  CAF_CHECK_LESS(dx, 1e-2 * x_scale);
  CAF_CHECK_GREATER(dy, 0.0);  // the values really crossed as float16
}

CAF_TEST(rows over the max-batch-size of a server are split into calls that fit) {
  constexpr size_t limit = 4;
  constexpr int64_t rows = 64;  // 4 slots each: about 16 rows per expert, 4x the limit
  auto run = pass_through_server(compression_kind::none, rows, limit, true);
  CAF_MESSAGE(run.report.forward.calls << " forward calls, " << run.report.backward.calls
                                       << " backward calls, max |y - y_ref| = "
                                       << max_abs_diff(run.y, run.ref.y));
  CAF_CHECK_LESS(max_abs_diff(run.y, run.ref.y), 1e-5);
  CAF_CHECK_LESS(max_abs_diff(run.x.grad(), run.ref.x.grad()), 1e-5);
  // Every row reached its expert in calls of at most `limit` rows: at least rows*k/limit.
  constexpr size_t fewest_calls = static_cast<size_t>(rows) * 4 / limit;
  CAF_CHECK_GREATER_OR_EQUAL(run.report.forward.calls, fewest_calls);
  CAF_CHECK_GREATER_OR_EQUAL(run.report.backward.calls, fewest_calls);
}


CAF_TEST(whole sequences go to causal block experts: the same as locally and causal) {
  start_server(compression_kind::none, 1024, true, "causal-transformer", 16);
  auto opt = test_options();
  auto router = make_router(opt);
  torch::manual_seed(12);
  RemoteMixtureOfExperts layer{system, router, features, features, opt};
  auto x = torch::randn({4, 6, features}).requires_grad_(true);  // [sequences, tokens, width]
  auto target = torch::randn({4, 6, features});
  auto y = layer->forward(x);
  CAF_REQUIRE_EQUAL(y.sizes(), x.sizes());
  CAF_REQUIRE(layer->last_mask().all().item<bool>());
  (y * target).sum().backward();
  // The same mixture with local blocks: gated on each sequence's first position.
  auto ref_x = x.detach().clone().requires_grad_(true);
  auto first = ref_x.select(1, 0);
  auto l0 = first.mm(layer->gate(0)->weight.detach().t()) + layer->gate(0)->bias.detach();
  auto l1 = first.mm(layer->gate(1)->weight.detach().t()) + layer->gate(1)->bias.detach();
  auto coords = layer->last_coords();
  std::vector<torch::Tensor> sequences;
  for (int64_t b = 0; b < x.size(0); ++b) {
    std::vector<torch::Tensor> scores, outputs;
    for (int64_t s = 0; s < coords.size(1); ++s) {
      auto c0 = coords[b][s][0].item<int64_t>();
      auto c1 = coords[b][s][1].item<int64_t>();
      auto expert = make_expert("causal-transformer", features, expert_seed(seed, id_of(c0, c1)));
      CAF_REQUIRE(expert);
      scores.push_back(l0[b][c0] + l1[b][c1]);
      outputs.push_back((*expert)->forward({ref_x.slice(0, b, b + 1)})[0][0]);
    }
    auto w = torch::softmax(torch::stack(scores), 0);
    sequences.push_back((w.view({-1, 1, 1}) * torch::stack(outputs)).sum(0));
  }
  auto ref_y = torch::stack(sequences);
  (ref_y * target).sum().backward();
  CAF_MESSAGE("max |y - y_ref| = " << max_abs_diff(y, ref_y) << ", max |dx - dx_ref| = "
                                   << max_abs_diff(x.grad(), ref_x.grad()));
  CAF_CHECK_LESS(max_abs_diff(y, ref_y), 1e-5);
  CAF_CHECK_LESS(max_abs_diff(x.grad(), ref_x.grad()), 1e-5);
  // Causal end to end: other tokens after position 3 change no output before it.
  auto changed = x.detach().clone();
  changed.narrow(1, 4, 2).normal_();
  torch::NoGradGuard no_grad;
  auto y2 = layer->forward(changed);
  CAF_CHECK_LESS(max_abs_diff(y2.narrow(1, 0, 4), y.detach().narrow(1, 0, 4)), 1e-5);
  CAF_CHECK_GREATER(max_abs_diff(y2.narrow(1, 4, 2), y.detach().narrow(1, 4, 2)), 1e-3);
  // Sequences longer than the server's max-tokens (16): an error that names the limit.
  std::string refusal;
  try {
    layer->forward(torch::randn({2, 20, features}));
  } catch (const moe_call_error& e) {
    refusal = e.what();
  }
  CAF_MESSAGE(refusal);
  CAF_CHECK_NOT_EQUAL(refusal.find("server.max-tokens"), std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
