#include "runtime/experts/fused_adam.hpp"

#include <cmath>
#include <limits>
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
// With clip_over_rms > 0, grad * scale is first clipped to clip_over_rms * sqrt(v) (v of the
// step before; clip_over_rms holds the factor over that step's sqrt(bc2)). Returns the number
// of elements clipped.
struct adam_constants {
  float scale, weight_decay, beta1, one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, eps,
    neg_step_size, clip_over_rms;
};

uint64_t adam_loop(float* __restrict p, const float* __restrict grad, float* __restrict m,
                   float* __restrict v, int64_t n, const adam_constants& c) {
  uint64_t clipped = 0;
  // clip off: no g^2 exceeds infinity
  float clip_squared = c.clip_over_rms > 0.0f ? c.clip_over_rms * c.clip_over_rms
                                              : std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) {
    float g = grad[i] * c.scale;
    // g^2 > clip^2 v: no square root on the common path (v > 0: an element's first step is
    // not clipped)
    if (g * g > clip_squared * v[i] && v[i] > 0.0f) {
      g = std::copysign(c.clip_over_rms * std::sqrt(v[i]), g);
      ++clipped;
    }
    if (c.weight_decay != 0.0f)
      g = g + c.weight_decay * p[i];
    float mi = m[i] * c.beta1 + c.one_minus_beta1 * g;
    float vi = v[i] * c.beta2 + c.one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    float denom = std::sqrt(vi) / c.bc2_sqrt + c.eps;
    p[i] = p[i] + c.neg_step_size * (mi / denom);
  }
  return clipped;
}

// clip_factor / sqrt(1 - beta2^(step - 1)): the bound over sqrt(v) before step `step` (0 when
// there is no earlier step, or clipping is off).
double clip_over_rms(double clip_factor, double beta2, int64_t step) {
  if (clip_factor <= 0 || step <= 1)
    return 0;
  return clip_factor / std::sqrt(1 - std::pow(beta2, static_cast<double>(step - 1)));
}

// The fallback's clip, with tensor operations: the same bound on the scaled gradient.
uint64_t clip_gradient(torch::Tensor& grad, const torch::Tensor& v, double over_rms) {
  auto bound = v.sqrt() * over_rms;
  auto over = (grad.abs() > bound) & (v > 0);
  auto clipped = over.sum().item<int64_t>();
  if (clipped > 0)
    grad.copy_(torch::where(over, grad.sign() * bound, grad));
  return static_cast<uint64_t>(clipped);
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

uint64_t fused_adam_step(torch::optim::Adam& optimizer, double grad_scale, double clip_factor) {
  torch::NoGradGuard no_grad;
  uint64_t clipped = 0;
  if (!can_fuse(optimizer)) {
    for (auto& group : optimizer.param_groups()) {
      auto beta2 = std::get<1>(static_cast<torch::optim::AdamOptions&>(group.options()).betas());
      for (auto& p : group.params()) {
        if (!p.grad().defined())
          continue;
        p.mutable_grad().mul_(grad_scale);
        auto& state = state_of(optimizer, p);
        if (auto over = clip_over_rms(clip_factor, beta2, state.step() + 1); over > 0)
          clipped += clip_gradient(p.mutable_grad(), state.exp_avg_sq(), over);
      }
    }
    optimizer.step();
    return clipped;
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
      adam_constants c{static_cast<float>(grad_scale),
                       static_cast<float>(options.weight_decay()),
                       static_cast<float>(beta1),
                       static_cast<float>(1 - beta1),
                       static_cast<float>(beta2),
                       static_cast<float>(1 - beta2),
                       static_cast<float>(std::sqrt(bias_correction2)),
                       static_cast<float>(options.eps()),
                       static_cast<float>(-step_size),
                       static_cast<float>(clip_over_rms(clip_factor, beta2, state.step()))};
      clipped += adam_loop(p.data_ptr<float>(), p.grad().data_ptr<float>(),
                           state.exp_avg().data_ptr<float>(), state.exp_avg_sq().data_ptr<float>(),
                           p.numel(), c);
    }
  }
  return clipped;
}

}  // namespace dmoe
