// Kept activations (server.activations): the store finds a call's activations by content, once,
// within its memory budget and time to live; ffn's own backward equals autograd; a backend's
// backward equals plain LibTorch training whether its activations were kept, evicted or never
// kept, and when backward calls regroup the rows of forward batches.
#define CAF_SUITE server.activations
#include <caf/test/unit_test.hpp>

#include <torch/csrc/autograd/autograd.h>

#include "runtime/experts/activation_store.hpp"
#include "runtime/experts/builtin_experts.hpp"
#include "tests/server/server_test_util.hpp"

using namespace dmoe;
using namespace dmoe::test;
using std::chrono::seconds;

namespace {

constexpr int64_t hidden = small_hidden;
using clock_type = activation_store::clock;

std::vector<torch::Tensor> one(torch::Tensor t) {
  return {std::move(t)};
}

optimizer_settings adam() {
  optimizer_settings s;
  s.learning_rate = 1e-2;
  s.clip_grad_norm = 1.0;
  return s;
}

std::shared_ptr<expert_backend> backend_with(optimizer_settings s, size_t budget, uint64_t seed) {
  auto b = expert_backend::create("ffn.0", "ffn", hidden, s, seed,
                                  activation_settings{budget, seconds(30)});
  CAF_REQUIRE(b);
  return *b;
}

// The parameters' gradients, cloned (undefined ones as zeros).
std::vector<torch::Tensor> grads_of(expert_module& m) {
  std::vector<torch::Tensor> out;
  for (auto& p : m.parameters())
    out.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
  return out;
}

double max_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  CAF_REQUIRE_EQUAL(a.size(), b.size());
  double out = 0;
  for (size_t i = 0; i < a.size(); ++i)
    out = std::max(out, max_abs_diff(a[i], b[i]));
  return out;
}

constexpr size_t plenty = size_t{64} << 20;

}  // namespace

CAF_TEST(the store finds kept rows by the inputs content and only once) {
  activation_store store{plenty, seconds(30)};
  auto t0 = clock_type::now();
  auto a = torch::randn({2, 4});
  auto b = torch::randn({3, 4});
  auto block = torch::randn({5, 6});
  store.keep({block}, {{one(a), 2}, {one(b), 3}}, t0);
  CAF_CHECK_EQUAL(store.entries(), 2u);
  CAF_CHECK_EQUAL(store.bytes(), static_cast<size_t>((5 * 6 + 2 * 4 + 3 * 4) * 4));
  CAF_CHECK(!store.take(one(torch::randn({3, 4})), t0));  // other content
  auto found = store.take(one(b.clone()), t0);             // equal content, another tensor
  CAF_REQUIRE(found);
  CAF_CHECK_EQUAL(found->offset, 2);
  CAF_CHECK_EQUAL(found->count, 3);
  CAF_CHECK(torch::equal(found->from->saved[0], block));
  CAF_CHECK(!store.take(one(b), t0));  // used once
  // the block stays counted while a's entry lives
  CAF_CHECK_EQUAL(store.bytes(), static_cast<size_t>((5 * 6 + 2 * 4 + 3 * 4) * 4));
  CAF_CHECK(store.take(one(a), t0));
  CAF_CHECK_EQUAL(store.bytes(), 0u);
  CAF_CHECK_EQUAL(store.stats().kept, 2u);
  CAF_CHECK_EQUAL(store.stats().used, 2u);
  CAF_CHECK_EQUAL(store.stats().missed, 2u);
}

CAF_TEST(the store evicts the oldest entries for its budget and drops expired ones) {
  auto bytes_per_call = static_cast<size_t>((4 * 8 + 4 * 8) * 4);  // block + inputs
  activation_store store{2 * bytes_per_call, seconds(10)};
  auto t0 = clock_type::now();
  std::vector<torch::Tensor> xs;
  for (int i = 0; i < 3; ++i) {
    xs.push_back(torch::randn({4, 8}));
    store.keep({torch::randn({4, 8})}, {{one(xs.back()), 4}}, t0 + seconds(i));
  }
  CAF_CHECK_EQUAL(store.entries(), 2u);
  CAF_CHECK_LESS_OR_EQUAL(store.bytes(), store.budget());
  CAF_CHECK_EQUAL(store.stats().evicted, 1u);
  CAF_CHECK(!store.take(one(xs[0]), t0 + seconds(3)));  // the oldest went
  // too big for the budget alone: not kept, nothing evicted for it
  store.keep({torch::randn({64, 8})}, {{one(torch::randn({64, 8})), 64}}, t0 + seconds(3));
  CAF_CHECK_EQUAL(store.entries(), 2u);
  // xs[1] was kept at t0 + 1 s: expired at t0 + 11 s; xs[2] still there at t0 + 11.5 s
  CAF_CHECK(!store.take(one(xs[1]), t0 + seconds(11)));
  CAF_CHECK(store.take(one(xs[2]), t0 + std::chrono::milliseconds(11500)));
  CAF_CHECK_EQUAL(store.stats().expired, 1u);
  CAF_CHECK_EQUAL(store.bytes(), 0u);
}

CAF_TEST(ffn backward from kept activations equals autograd) {
  torch::manual_seed(3);
  auto manual = std::make_shared<ffn_expert>(hidden);
  auto reference = std::make_shared<ffn_expert>(hidden);
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < manual->parameters().size(); ++i)
      reference->parameters()[i].copy_(manual->parameters()[i]);
  }
  for (int round = 0; round < 2; ++round) {  // the second round adds to existing gradients
    auto x = torch::randn({8, hidden});
    auto g = torch::randn({8, hidden});
    std::vector<torch::Tensor> saved;
    auto y = manual->forward_saving({x}, saved);
    auto dx = manual->backward_saved(saved, {g});
    auto leaf = x.detach().requires_grad_(true);
    auto y_ref = reference->forward({leaf})[0];
    y_ref.backward(g);
    CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(y[0], y_ref), 1e-6);
    CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(dx[0], leaf.grad()), 1e-5);
    CAF_CHECK_LESS_OR_EQUAL(max_diff(grads_of(*manual), grads_of(*reference)), 1e-5);
  }
}

CAF_TEST(backward equals plain training with activations kept evicted or never kept) {
  // one call of 6 rows keeps 10 h + 2 floats per row and its input (h per row)
  const size_t one_call = 6 * (11 * hidden + 2) * 4;
  enum mode { kept, evicted, never };
  for (auto m : {kept, evicted, never}) {
    CAF_MESSAGE("mode " << static_cast<int>(m));
    torch::manual_seed(5);
    auto backend = backend_with(adam(), m == kept ? plenty : m == evicted ? one_call : 0, 21);
    local_training local{"ffn", adam(), 21};
    for (int step = 0; step < 3; ++step) {
      auto x = torch::randn({6, hidden});
      auto g = torch::randn({6, hidden});
      auto y = backend->forward(one(x));
      CAF_REQUIRE(y);
      CAF_CHECK_LESS_OR_EQUAL(max_abs_diff((*y)[0], local.module->forward({x})[0]), 1e-5);
      if (m == evicted)  // another caller's forward takes the room
        CAF_REQUIRE(backend->forward(one(torch::randn({6, hidden}))));
      auto dx = backend->backward(one(x), one(g));
      CAF_REQUIRE(dx);
      CAF_CHECK_LESS_OR_EQUAL(max_abs_diff((*dx)[0], local.step(x, g)), 1e-5);
      CAF_CHECK_LESS_OR_EQUAL(max_diff(backend->module().parameters(), local.module->parameters()),
                              1e-5);
    }
    auto& counters = backend->activations();
    CAF_CHECK_EQUAL(counters.used.load(), m == kept ? 3u : 0u);
    CAF_CHECK_EQUAL(counters.recomputed.load(), m == kept ? 0u : 3u);
    CAF_CHECK_EQUAL(counters.kept.load(), m == kept ? 3u : m == evicted ? 6u : 0u);
    CAF_CHECK_EQUAL(counters.evicted.load(), m == evicted ? 5u : 0u);
  }
}

CAF_TEST(backward batches may regroup the rows of forward batches) {
  auto s = adam();
  s.accumulate_samples = 1000;  // no update in between: every gradient is at the same weights
  auto backend = backend_with(s, plenty, 8);
  local_training local{"ffn", s, 8};
  torch::manual_seed(9);
  std::vector<std::vector<torch::Tensor>> xs, gs;
  for (int c = 0; c < 4; ++c) {
    xs.push_back(one(torch::randn({c + 2, hidden})));
    gs.push_back(one(torch::randn({c + 2, hidden})));
  }
  auto now = clock_type::now();
  // forward: calls 0, 1, 2 in one batch; call 3 never goes forward
  CAF_REQUIRE(backend->forward({&xs[0], &xs[1], &xs[2]}, now));
  // backward: calls 2, 0 and 3 in one batch, then call 1 alone
  auto dx = backend->backward({&xs[2], &xs[0], &xs[3]}, {&gs[2], &gs[0], &gs[3]}, now);
  CAF_REQUIRE(dx);
  CAF_CHECK_EQUAL(backend->activations().used.load(), 2u);
  CAF_CHECK_EQUAL(backend->activations().recomputed.load(), 1u);
  auto dx1 = backend->backward({&xs[1]}, {&gs[1]}, now);
  CAF_REQUIRE(dx1);
  CAF_CHECK_EQUAL(backend->activations().used.load(), 3u);
  // autograd over the same rows
  auto x = torch::cat({xs[2][0], xs[0][0], xs[3][0]}).requires_grad_(true);
  local.module->forward({x})[0].backward(torch::cat({gs[2][0], gs[0][0], gs[3][0]}));
  auto x1 = xs[1][0].clone().requires_grad_(true);
  local.module->forward({x1})[0].backward(gs[1][0]);
  CAF_CHECK_LESS_OR_EQUAL(max_abs_diff((*dx)[0], x.grad()), 1e-5);
  CAF_CHECK_LESS_OR_EQUAL(max_abs_diff((*dx1)[0], x1.grad()), 1e-5);
  CAF_CHECK_LESS_OR_EQUAL(max_diff(grads_of(backend->module()), grads_of(*local.module)), 1e-5);
  CAF_CHECK_EQUAL(backend->pending_samples(), 14u);
}

CAF_TEST(loading a checkpoint forgets kept activations) {
  temp_dir dir{"activations-load"};
  auto path = (dir.path / "ffn.0.pt").string();
  auto backend = backend_with(adam(), plenty, 4);
  CAF_REQUIRE(!backend->save(path));
  auto x = torch::randn({3, hidden});
  CAF_REQUIRE(backend->forward(one(x)));
  CAF_CHECK_GREATER(backend->activations().bytes.load(), 0u);
  CAF_REQUIRE(!backend->load(path));
  CAF_CHECK_EQUAL(backend->activations().bytes.load(), 0u);
  CAF_REQUIRE(backend->backward(one(x), one(torch::randn({3, hidden}))));
  CAF_CHECK_EQUAL(backend->activations().recomputed.load(), 1u);
}
