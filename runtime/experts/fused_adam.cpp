#include "runtime/experts/fused_adam.hpp"

#include <cmath>
#include <memory>
#include <tuple>

namespace dmoe {

namespace {

bool fusable(const torch::Tensor& t) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == torch::kFloat32
         && t.is_contiguous();
}

// Every parameter with a gradient, its gradient and its moments are contiguous float32 on the
// CPU, and no group uses amsgrad.
bool can_fuse(torch::optim::Adam& optimizer) {
  for (auto& group : optimizer.param_groups()) {
    if (static_cast<torch::optim::AdamOptions&>(group.options()).amsgrad())
      return false;
    for (auto& p : group.params()) {
      if (!p.grad().defined())
        continue;
      if (!fusable(p) || !fusable(p.grad()))
        return false;
      auto i = optimizer.state().find(c10::guts::to_string(p.unsafeGetTensorImpl()));
      if (i != optimizer.state().end()) {
        auto& state = static_cast<torch::optim::AdamParamState&>(*i->second);
        if (!fusable(state.exp_avg()) || !fusable(state.exp_avg_sq()))
          return false;
      }
    }
  }
  return true;
}

torch::optim::AdamParamState& state_of(torch::optim::Adam& optimizer, const torch::Tensor& p) {
  auto key = c10::guts::to_string(p.unsafeGetTensorImpl());
  auto& states = optimizer.state();
  auto i = states.find(key);
  if (i == states.end()) {  // as Adam::step initializes it
    auto state = std::make_unique<torch::optim::AdamParamState>();
    state->step(0);
    state->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    state->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    i = states.emplace(key, std::move(state)).first;
  }
  return static_cast<torch::optim::AdamParamState&>(*i->second);
}

// The loop Adam::step spreads over seven kernels, in the same order of float operations:
//   g = grad * scale (+ weight_decay * p); m = m * b1 + (1 - b1) * g;
//   v = v * b2 + (1 - b2) * g * g; denom = sqrt(v) / sqrt(bc2) + eps; p += -step_size * m / denom
void adam_loop(float* __restrict p, const float* __restrict grad, float* __restrict m,
               float* __restrict v, int64_t n, float scale, float weight_decay, float beta1,
               float one_minus_beta1, float beta2, float one_minus_beta2, float bc2_sqrt, float eps,
               float neg_step_size) {
  for (int64_t i = 0; i < n; ++i) {
    float g = grad[i] * scale;
    if (weight_decay != 0.0f)
      g = g + weight_decay * p[i];
    float mi = m[i] * beta1 + one_minus_beta1 * g;
    float vi = v[i] * beta2 + one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    float denom = std::sqrt(vi) / bc2_sqrt + eps;
    p[i] = p[i] + neg_step_size * (mi / denom);
  }
}

}  // namespace

double gradient_norm(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> norms;
  for (const auto& p : parameters)
    if (p.grad().defined())
      norms.push_back(p.grad().data().norm(2));
  if (norms.empty())
    return 0.0;
  auto total = norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2);
  return total.item<double>();
}

void fused_adam_step(torch::optim::Adam& optimizer, double grad_scale) {
  torch::NoGradGuard no_grad;
  if (!can_fuse(optimizer)) {
    for (auto& group : optimizer.param_groups())
      for (auto& p : group.params())
        if (p.grad().defined())
          p.mutable_grad().mul_(grad_scale);
    optimizer.step();
    return;
  }
  for (auto& group : optimizer.param_groups()) {
    auto& options = static_cast<torch::optim::AdamOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined())
        continue;
      auto& state = state_of(optimizer, p);
      state.step(state.step() + 1);
      auto [beta1, beta2] = options.betas();
      auto bias_correction1 = 1 - std::pow(beta1, state.step());
      auto bias_correction2 = 1 - std::pow(beta2, state.step());
      auto step_size = options.lr() / bias_correction1;
      adam_loop(p.data_ptr<float>(), p.grad().data_ptr<float>(), state.exp_avg().data_ptr<float>(),
                state.exp_avg_sq().data_ptr<float>(), p.numel(), static_cast<float>(grad_scale),
                static_cast<float>(options.weight_decay()), static_cast<float>(beta1),
                static_cast<float>(1 - beta1), static_cast<float>(beta2),
                static_cast<float>(1 - beta2), static_cast<float>(std::sqrt(bias_correction2)),
                static_cast<float>(options.eps()), static_cast<float>(-step_size));
    }
  }
}

}  // namespace dmoe
