#include "actors/trainer/shared_parameters.hpp"

#include <vector>

#include <torch/autograd.h>

namespace dmoe {

shared_parameters::shared_parameters(std::shared_ptr<torch::nn::Module> model, schedule rate,
                                     uint64_t max_staleness, bool divide_stale)
  : model_(std::move(model)),
    rate_(std::move(rate)),
    optimizer_(model_->parameters(), torch::optim::AdamOptions(rate_(0))),
    max_staleness_(max_staleness),
    divide_stale_(divide_stale) {
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
  auto rate = rate_(version_);
  if (divide_stale_ && staleness > 1)
    rate /= static_cast<double>(staleness);
  for (auto& group : optimizer_.param_groups())
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(rate);
  optimizer_.step();
  optimizer_.zero_grad();
  return update{++version_, staleness, true};
}

void shared_parameters::save(torch::serialize::OutputArchive& archive) {
  std::lock_guard<std::mutex> guard{mtx_};
  torch::serialize::OutputArchive parameters;
  model_->save(parameters);
  archive.write("model", parameters);
  torch::serialize::OutputArchive optimizer;
  optimizer_.save(optimizer);
  archive.write("optimizer", optimizer);
  archive.write("version", torch::tensor(static_cast<int64_t>(version_)));
}

void shared_parameters::load(torch::serialize::InputArchive& archive) {
  std::lock_guard<std::mutex> guard{mtx_};
  torch::serialize::InputArchive parameters;
  archive.read("model", parameters);
  std::vector<std::vector<int64_t>> shapes;
  for (const auto& p : model_->parameters())
    shapes.push_back(p.sizes().vec());
  model_->load(parameters);  // replaces the tensors whatever their shapes: compare them
  auto loaded = model_->parameters();
  for (size_t i = 0; i < loaded.size(); ++i)
    TORCH_CHECK(i < shapes.size() && loaded[i].sizes().vec() == shapes[i],
                "its parameters have other shapes than this trainer's model (another "
                "trainer.hidden or trainer.moe-layers?)");
  torch::serialize::InputArchive optimizer;
  archive.read("optimizer", optimizer);
  optimizer_.load(optimizer);
  torch::Tensor version;
  archive.read("version", version);
  TORCH_CHECK(version.numel() == 1 && version.item<int64_t>() >= 0, "bad version");
  version_ = static_cast<uint64_t>(version.item<int64_t>());
}

void shared_parameters::with_model(const std::function<void(torch::nn::Module&)>& f) {
  std::lock_guard<std::mutex> guard{mtx_};
  f(*model_);
}

}  // namespace dmoe
