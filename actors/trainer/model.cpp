#include "actors/trainer/model.hpp"

#include <torch/nn/functional/activation.h>

namespace dmoe {

DMoEClassifierImpl::DMoEClassifierImpl(caf::actor_system& system, caf::actor router,
                                       const trainer_options& options, const moe_options& moe,
                                       int64_t inputs, int64_t classes) {
  input_ = register_module("input", torch::nn::Linear(inputs, options.hidden));
  for (size_t i = 0; i < options.moe_layers; ++i) {
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
  return output_->forward(h);
}

}  // namespace dmoe
