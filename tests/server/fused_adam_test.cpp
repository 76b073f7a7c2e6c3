// The fused Adam step (runtime/experts/fused_adam.hpp) against LibTorch's Adam
// (server.fused_adam): the same parameters and state, and the outlier rule that clips each
// gradient element to a multiple of its running RMS: a spike is clipped, honest steps keep
// their size, the fused loop and the fallback clip alike.
#define CAF_SUITE server.fused_adam
#include <caf/test/unit_test.hpp>

#include <torch/optim/adam.h>

#include "runtime/experts/fused_adam.hpp"
#include "tests/server/server_test_util.hpp"

using namespace dmoe;
using namespace dmoe::test;

CAF_TEST(the fused adam step equals libtorch adam with clipped gradients) {
  torch::manual_seed(13);
  std::vector<torch::Tensor> fused_params, torch_params;
  for (auto shape : {std::vector<int64_t>{64, 16}, std::vector<int64_t>{16}}) {
    fused_params.push_back(torch::randn(shape).requires_grad_(true));
    torch_params.push_back(fused_params.back().detach().clone().requires_grad_(true));
  }
  auto options = torch::optim::AdamOptions(1e-2).weight_decay(0.01);
  torch::optim::Adam fused{fused_params, options};
  torch::optim::Adam reference{torch_params, options};
  for (int step = 0; step < 5; ++step) {
    auto scale = step % 2 == 0 ? 1.0 : 0.25;
    for (size_t i = 0; i < fused_params.size(); ++i) {
      auto g = torch::randn(fused_params[i].sizes());
      fused_params[i].mutable_grad() = g.clone();
      torch_params[i].mutable_grad() = g * scale;
    }
    fused_adam_step(fused, scale);
    reference.step();
    for (size_t i = 0; i < fused_params.size(); ++i)
      CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(fused_params[i], torch_params[i]), 1e-6);
  }
  // the same state LibTorch keeps: step count and moments, under the same keys
  for (size_t i = 0; i < fused_params.size(); ++i) {
    auto& a = static_cast<torch::optim::AdamParamState&>(
      *fused.state().at(c10::guts::to_string(fused_params[i].unsafeGetTensorImpl())));
    auto& b = static_cast<torch::optim::AdamParamState&>(
      *reference.state().at(c10::guts::to_string(torch_params[i].unsafeGetTensorImpl())));
    CAF_CHECK_EQUAL(a.step(), 5);
    CAF_CHECK_EQUAL(a.step(), b.step());
    CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(a.exp_avg(), b.exp_avg()), 1e-6);
    CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(a.exp_avg_sq(), b.exp_avg_sq()), 1e-6);
  }
}

namespace {

/// Adam over one 64x16 parameter (rate 1e-2) that takes steps of given gradients.
struct adam_run {
  torch::Tensor param = torch::zeros({64, 16}).requires_grad_(true);
  torch::optim::Adam adam{std::vector<torch::Tensor>{param}, torch::optim::AdamOptions(1e-2)};

  /// The mean change of an element in one step with gradient `g`; `clipped` counts.
  double step(const torch::Tensor& g, double clip_factor, uint64_t* clipped = nullptr) {
    auto before = param.detach().clone();
    param.mutable_grad() = g;
    auto n = fused_adam_step(adam, 1.0, clip_factor);
    if (clipped)
      *clipped = n;
    return (param.detach() - before).abs().mean().item<double>();
  }
};

}  // namespace

CAF_TEST(the outlier rule clips a gradient spike so that honest steps keep their size) {
  torch::manual_seed(14);
  std::vector<torch::Tensor> honest, later;
  for (int i = 0; i < 50; ++i)
    honest.push_back(torch::randn({64, 16}));
  for (int i = 0; i < 200; ++i)  // the spike's first moment is gone after them (0.9^200)
    later.push_back(torch::randn({64, 16}));
  auto spike = torch::randn({64, 16}) * 1000;
  // Three runs: never attacked, attacked unclipped, attacked with the rule (factor 10).
  adam_run quiet, open, guarded;
  for (const auto& g : honest) {
    quiet.step(g, 0);
    open.step(g, 0);
    guarded.step(g, 10);
  }
  uint64_t clipped = 0;
  quiet.step(honest.front(), 0);
  open.step(spike, 0);
  guarded.step(spike, 10, &clipped);
  CAF_CHECK_GREATER(clipped, 900u);  // of 1,024: all but the spike's tiny elements
  double quiet_step = 0, open_step = 0, guarded_step = 0;
  for (const auto& g : later) {
    quiet_step = quiet.step(g, 0);
    open_step = open.step(g, 0);
    guarded_step = guarded.step(g, 10);
  }
  CAF_MESSAGE("mean honest step 200 steps after the spike: " << quiet_step << " never attacked, "
              << open_step << " unclipped, " << guarded_step << " clipped");
  // Unclipped, the spike's second moment shrinks honest steps tens of times for thousands of
  // steps; clipped, they keep most of their size.
  CAF_CHECK_LESS(open_step, quiet_step / 10);
  CAF_CHECK_GREATER(guarded_step, quiet_step / 2);
  // Honest gradients of a steady size are not clipped once the moment has a history.
  uint64_t honest_clipped = 0;
  for (const auto& g : later) {
    guarded.step(g, 10, &clipped);
    honest_clipped += clipped;
  }
  CAF_CHECK_EQUAL(honest_clipped, 0u);
}

CAF_TEST(the outlier rule clips the same in the fused loop and the fallback) {
  torch::manual_seed(15);
  adam_run fused, fallback;
  for (int step = 0; step < 8; ++step) {
    auto g = torch::randn({64, 16}) * (step == 5 ? 100.0 : 1.0);
    uint64_t fused_clipped = 0, fallback_clipped = 0;
    fused.step(g, 3, &fused_clipped);
    // a gradient laid out transposed is not contiguous: fused_adam_step takes the fallback
    fallback.step(g.t().contiguous().t(), 3, &fallback_clipped);
    CAF_CHECK_EQUAL(fused_clipped, fallback_clipped);
    if (step == 5)
      CAF_CHECK_GREATER(fused_clipped, 0u);
    CAF_CHECK_LESS_OR_EQUAL(max_abs_diff(fused.param, fallback.param), 1e-6);
  }
}
