#include "actors/trainer/shared_parameters.hpp"

#include <torch/autograd.h>

namespace dmoe {

shared_parameters::shared_parameters(std::shared_ptr<torch::nn::Module> model, schedule rate,
                                     uint64_t max_staleness)
  : model_(std::move(model)),
    rate_(std::move(rate)),
    optimizer_(model_->parameters(), torch::optim::AdamOptions(rate_(0))),
    max_staleness_(max_staleness) {
}

uint64_t shared_parameters::read(torch::nn::Module& replica) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (&replica != model_.get()) {
    torch::NoGradGuard no_grad;
    auto from = model_->parameters();
    auto to = replica.parameters();
    TORCH_CHECK(from.size() == to.size(), "a replica must have the model's architecture");
    for (size_t i = 0; i < from.size(); ++i)
      to[i].copy_(from[i]);
  }
  for (auto& p : replica.parameters())
    if (p.grad().defined())
      p.mutable_grad() = torch::Tensor();
  return version_;
}

shared_parameters::update shared_parameters::apply(torch::nn::Module& replica,
                                                   uint64_t read_version) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto staleness = version_ - read_version;
  if (staleness > max_staleness_)
    return update{version_, staleness, false};
  if (&replica != model_.get()) {
    auto to = model_->parameters();
    auto from = replica.parameters();
    for (size_t i = 0; i < to.size(); ++i)
      to[i].mutable_grad() = from[i].grad().defined() ? from[i].grad().clone() : torch::Tensor();
  }
  for (auto& group : optimizer_.param_groups())
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(rate_(version_));
  optimizer_.step();
  optimizer_.zero_grad();
  return update{++version_, staleness, true};
}

void shared_parameters::with_model(const std::function<void(torch::nn::Module&)>& f) {
  std::lock_guard<std::mutex> guard{mtx_};
  f(*model_);
}

}  // namespace dmoe
