#include "actors/trainer/model.hpp"

#include <torch/nn/functional/activation.h>

namespace dmoe {

int64_t dense_ffn_width(model_kind kind, int64_t hidden, const moe_options& moe) {
  int64_t cells = 1;
  for (auto d : moe.grid)
    cells *= d;
  auto experts = kind == model_kind::largeffn ? cells : static_cast<int64_t>(moe.k_best);
  return ffn_expansion * hidden * experts;
}

DMoEClassifierImpl::DMoEClassifierImpl(caf::actor_system& system, moe::router_actor router,
                                       const trainer_options& options, const moe_options& moe,
                                       int64_t inputs, int64_t classes) {
  input_ = register_module("input", torch::nn::Linear(inputs, options.hidden));
  for (size_t i = 0; i < options.moe_layers; ++i) {
    if (options.model != model_kind::dmoe) {
      auto width = dense_ffn_width(options.model, options.hidden, moe);
      dense_.push_back(register_module("ffn" + std::to_string(i),
                                       std::make_shared<ffn_expert>(options.hidden, width)));
      continue;
    }
    auto layer = moe;
    layer.expert_prefix = layer_prefix(moe.expert_prefix, i);
    moe_.push_back(register_module("moe" + std::to_string(i),
                                   RemoteMixtureOfExperts(system, router, options.hidden,
                                                          options.hidden, layer)));
  }
  output_ = register_module("output", torch::nn::Linear(options.hidden, classes));
}

torch::Tensor DMoEClassifierImpl::forward(torch::Tensor images) {
  auto h = torch::relu(input_->forward(images));
  for (auto& layer : moe_)
    h = h + layer->forward(h);
  for (auto& block : dense_)
    h = h + block->forward_one(h);
  return output_->forward(h);
}

}  // namespace dmoe
