// The trainers' model: a Fashion-MNIST classifier of ordinary layers around DMoE layers.
//   image [B, 784] -> Linear(784, h) -> ReLU -> { h = h + DMoE(h) } x moe_layers -> Linear(h, 10)
// DMoE layer i routes to its own grid, layer_prefix(moe.expert_prefix, i): ffn, ffn-1, ...
// The residual keeps a step useful when some experts fail (their share is renormalised away, and
// with allow_zero_outputs a layer whose experts all fail passes h through unchanged).
//
// trainer.model = largeffn is the dense baseline: each DMoE layer becomes one local ffn block
// (the experts' kind) whose inner width is 4 h times the grid's cells, so it holds as many
// parameters as all the grid's experts together and computes every one of them for every
// sample; trainer.model = dense makes it 4 h times k_best (the compute of the experts a sample
// uses). No router is called.
#pragma once

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "actors/moe/remote_moe.hpp"
#include "runtime/experts/builtin_experts.hpp"
#include "runtime/options.hpp"

namespace dmoe {

/// The inner width of the local ffn standing in for a DMoE layer: as wide as all the grid's
/// experts (largeffn) or as the k_best experts a sample uses (dense).
int64_t dense_ffn_width(model_kind kind, int64_t hidden, const moe_options& moe);

class DMoEClassifierImpl : public torch::nn::Module {
public:
  DMoEClassifierImpl(caf::actor_system& system, moe::router_actor router,
                     const trainer_options& options,
                     const moe_options& moe, int64_t inputs, int64_t classes);

  /// Class logits [B, classes] for flattened images [B, inputs].
  torch::Tensor forward(torch::Tensor images);

private:
  torch::nn::Linear input_{nullptr};
  std::vector<RemoteMixtureOfExperts> moe_;
  std::vector<std::shared_ptr<ffn_expert>> dense_;  // largeffn only
  torch::nn::Linear output_{nullptr};
};

TORCH_MODULE(DMoEClassifier);

}  // namespace dmoe
