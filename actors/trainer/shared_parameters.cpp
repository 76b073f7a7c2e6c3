#include "actors/trainer/shared_parameters.hpp"

#include <optional>
#include <vector>

#include <torch/autograd.h>

namespace dmoe {

shared_parameters::shared_parameters(std::shared_ptr<torch::nn::Module> model, schedule rate,
                                     policy p)
  : model_(std::move(model)),
    rate_(std::move(rate)),
    policy_(p),
    optimizer_(model_->parameters(), torch::optim::AdamOptions(rate_(0))) {
  TORCH_CHECK(policy_.accumulate >= 1, "accumulate must be at least 1");
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
  if (staleness > policy_.max_staleness)
    return update{gradients_, version_, staleness, false, false};
  ++gradients_;
  auto to = model_->parameters();
  auto from = replica.parameters();
  if (policy_.accumulate == 1) {
    if (&replica != model_.get())
      for (size_t i = 0; i < to.size(); ++i)
        to[i].mutable_grad() = from[i].grad().defined() ? from[i].grad().clone() : torch::Tensor();
    sum_staleness_ = staleness;
    step();
    return update{gradients_, version_, staleness, true, true};
  }
  sum_.resize(from.size());
  for (size_t i = 0; i < from.size(); ++i) {
    const auto& g = from[i].grad();
    if (!g.defined())
      continue;
    if (sum_[i].defined())
      sum_[i].add_(g);
    else
      sum_[i] = g.clone();
  }
  sum_staleness_ = std::max(sum_staleness_, staleness);
  if (++summed_ < policy_.accumulate)
    return update{gradients_, version_, staleness, true, false};
  step_with_sum();
  return update{gradients_, version_, staleness, true, true};
}

bool shared_parameters::flush() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (summed_ == 0)
    return false;
  step_with_sum();
  return true;
}

void shared_parameters::step_with_sum() {
  auto to = model_->parameters();
  for (size_t i = 0; i < to.size(); ++i)
    to[i].mutable_grad() = i < sum_.size() && sum_[i].defined()
                             ? sum_[i].div_(static_cast<double>(summed_))
                             : torch::Tensor();
  step();
  sum_.clear();
  summed_ = 0;
}

void shared_parameters::step() {
  auto rate = rate_(gradients_ - 1);
  if (policy_.divide_stale && sum_staleness_ > 1)
    rate /= static_cast<double>(sum_staleness_);
  for (auto& group : optimizer_.param_groups())
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(rate);
  optimizer_.step();
  optimizer_.zero_grad();
  sum_staleness_ = 0;
  ++version_;
}

void shared_parameters::save(torch::serialize::OutputArchive& archive) {
  std::lock_guard<std::mutex> guard{mtx_};
  torch::serialize::OutputArchive parameters;
  model_->save(parameters);
  archive.write("model", parameters);
  torch::serialize::OutputArchive optimizer;
  optimizer_.save(optimizer);
  archive.write("optimizer", optimizer);
  archive.write("version", torch::tensor(static_cast<int64_t>(gradients_)));
  archive.write("steps", torch::tensor(static_cast<int64_t>(version_)));
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
  auto count = [&](const char* key, bool required) -> std::optional<uint64_t> {
    torch::Tensor value;
    if (!archive.try_read(key, value)) {
      TORCH_CHECK(!required, "no '", key, "' in it");
      return std::nullopt;
    }
    TORCH_CHECK(value.numel() == 1 && value.item<int64_t>() >= 0, "bad '", key, "'");
    return static_cast<uint64_t>(value.item<int64_t>());
  };
  gradients_ = *count("version", true);
  // Checkpoints from before trainer.accumulate took one optimizer step per batch.
  version_ = count("steps", false).value_or(gradients_);
  sum_.clear();
  summed_ = 0;
  sum_staleness_ = 0;
}

void shared_parameters::with_model(const std::function<void(torch::nn::Module&)>& f) {
  std::lock_guard<std::mutex> guard{mtx_};
  f(*model_);
}

}  // namespace dmoe
