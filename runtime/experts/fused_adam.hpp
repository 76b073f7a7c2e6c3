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
#pragma once

#include <vector>

#include <torch/optim/adam.h>

namespace dmoe {

/// The L2 norm of every defined gradient of `parameters` together, as clip_grad_norm_ has it.
double gradient_norm(const std::vector<torch::Tensor>& parameters);

/// One Adam step of `optimizer` with every gradient multiplied by `grad_scale` first (the
/// gradients themselves are left as they are). Parameters without a gradient are skipped.
/// Falls back to scaling the gradients and Adam::step for amsgrad and for parameters (or
/// gradients, moments) that are not contiguous float32 on the CPU.
void fused_adam_step(torch::optim::Adam& optimizer, double grad_scale);

}  // namespace dmoe
