// Adam in one pass over each parameter, on torch::optim::Adam's own state.
//
// LibTorch 1.13's Adam::step makes about 23 passes over memory per parameter (separate mul_,
// add_, addcmul_, sqrt, div, add_ and addcdiv_ kernels, two of them allocating temporaries),
// and gradient clipping one more to scale the gradients. Experts step after every merged batch,
// so at small batches the step costs more than the matrix products. fused_adam_step reads the
// gradient, parameter and both moments once and writes parameter and moments once, with the
// clipping scale folded in. It keeps LibTorch's arithmetic (same order of operations, float
// math, same state and step count), so checkpoints are LibTorch's and the results equal
// Adam::step up to rounding.
//
// With a clip factor c > 0 it also bounds what one update can do to the moments (an update
// clip, as Adafactor and StableAdamW have it): each element of the scaled gradient is clipped
// to c times its running RMS, sqrt of the bias-corrected second moment before this step. One
// step can then raise an element's second moment at most (beta2 + (1 - beta2) c^2) times
// (1.099 at c = 10, beta2 = 0.999), so a crafted gradient 1,000 times too large cannot stall
// an expert's learning for thousands of steps, and an honest gradient larger than usual is
// still applied (clipped for a few steps while the moment catches up) instead of refused.
// Elements without a second moment yet (a parameter's first step) are not clipped.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/optim/adam.h>

namespace dmoe {

/// The L2 norm of every defined gradient of `parameters` together, as clip_grad_norm_ has it.
double gradient_norm(const std::vector<torch::Tensor>& parameters);

/// One Adam step of `optimizer` with every gradient multiplied by `grad_scale` first and, with
/// `clip_factor` > 0, each element clipped to clip_factor times its RMS (the gradients
/// themselves are left as they are). Parameters without a gradient are skipped. Returns how
/// many elements were clipped. Falls back to tensor operations and Adam::step for amsgrad and
/// for parameters (or gradients, moments) that are not contiguous float32 on the CPU.
uint64_t fused_adam_step(torch::optim::Adam& optimizer, double grad_scale,
                         double clip_factor = 0);

}  // namespace dmoe
