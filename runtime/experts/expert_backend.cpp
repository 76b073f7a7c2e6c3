#include "runtime/experts/expert_backend.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <map>

#include <fcntl.h>
#include <unistd.h>

#include <torch/csrc/autograd/autograd.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "messages/errors.hpp"
#include "runtime/experts/request_check.hpp"

namespace dmoe {

namespace {

caf::error compute_error(const char* what, const std::exception& e) {
  return make_error(errc::internal, std::string(what) + " failed: " + e.what());
}

// Makes the renamed file's contents durable before the rename replaces the old checkpoint.
void flush_to_disk(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

optimizer_settings optimizer_settings_of(const server_options& options) {
  optimizer_settings out;
  out.kind = options.optimizer;
  out.learning_rate = options.learning_rate;
  out.momentum = options.momentum;
  out.weight_decay = options.weight_decay;
  out.clip_grad_norm = options.clip_grad_norm;
  out.warmup_updates = options.warmup_updates;
  out.accumulate_samples = options.accumulate_samples;
  return out;
}

caf::expected<std::unique_ptr<torch::optim::Optimizer>>
make_optimizer(const optimizer_settings& s, std::vector<torch::Tensor> parameters) {
  if (s.kind == "adam")
    return std::unique_ptr<torch::optim::Optimizer>{new torch::optim::Adam(
      std::move(parameters),
      torch::optim::AdamOptions(s.learning_rate).weight_decay(s.weight_decay))};
  if (s.kind == "sgd")
    return std::unique_ptr<torch::optim::Optimizer>{new torch::optim::SGD(
      std::move(parameters),
      torch::optim::SGDOptions(s.learning_rate).momentum(s.momentum).weight_decay(s.weight_decay))};
  return make_error(errc::invalid_argument,
                    "unknown optimizer '" + s.kind + "' (expected adam or sgd)");
}

caf::expected<std::shared_ptr<expert_backend>>
expert_backend::create(std::string id, const std::string& type, int64_t hidden,
                       optimizer_settings settings, uint64_t seed) {
  auto module = make_expert(type, hidden, seed);
  if (!module)
    return module.error();
  auto optimizer = make_optimizer(settings, (*module)->parameters());
  if (!optimizer)
    return optimizer.error();
  expert_info info{std::move(id), type, (*module)->input_schema(), (*module)->output_schema()};
  return std::shared_ptr<expert_backend>{new expert_backend(
    std::move(info), std::move(*module), std::move(*optimizer), std::move(settings))};
}

expert_backend::expert_backend(expert_info info, std::shared_ptr<expert_module> module,
                               std::unique_ptr<torch::optim::Optimizer> optimizer,
                               optimizer_settings settings)
  : info_(std::move(info)),
    settings_(std::move(settings)),
    module_(std::move(module)),
    optimizer_(std::move(optimizer)) {
}

caf::expected<std::vector<torch::Tensor>>
expert_backend::forward(const std::vector<torch::Tensor>& inputs) {
  std::lock_guard<std::mutex> guard{mutex_};
  try {
    torch::NoGradGuard no_grad;
    return module_->forward(inputs);
  } catch (const std::exception& e) {
    return compute_error("forward", e);
  }
}

caf::expected<std::vector<torch::Tensor>>
expert_backend::backward(const std::vector<torch::Tensor>& inputs,
                         const std::vector<torch::Tensor>& grad_outputs) {
  std::lock_guard<std::mutex> guard{mutex_};
  try {
    torch::AutoGradMode grad_mode{true};
    std::vector<torch::Tensor> leaves;
    for (const auto& x : inputs)
      leaves.push_back(x.detach().requires_grad_(x.is_floating_point()));
    if (pending_samples_ == 0)
      optimizer_->zero_grad();
    auto outputs = module_->forward(leaves);  // the recomputed forward
    torch::autograd::backward(outputs, grad_outputs);  // adds to the parameters' gradients
    pending_samples_ += static_cast<uint64_t>(batch_size_of(inputs));
    if (pending_samples_ >= std::max<uint64_t>(settings_.accumulate_samples, 1))
      if (auto err = step_with_sum())
        return err;
    std::vector<torch::Tensor> grad_inputs;
    for (auto& leaf : leaves)
      grad_inputs.push_back(leaf.grad().defined() ? leaf.grad() : torch::zeros_like(leaf));
    return grad_inputs;
  } catch (const std::exception& e) {
    drop_sum();  // it may hold part of this batch's gradients
    return compute_error("backward", e);
  }
}

caf::error expert_backend::step_with_sum() {
  auto summed = pending_samples_.load();
  if (settings_.clip_grad_norm > 0) {
    auto norm = torch::nn::utils::clip_grad_norm_(module_->parameters(), settings_.clip_grad_norm);
    if (!std::isfinite(norm)) {
      drop_sum();
      return make_error(errc::non_finite, "gradient norm is not finite; the update of "
                                              + std::to_string(summed) + " samples skipped");
    }
  }
  if (settings_.warmup_updates > 0)
    for (auto& group : optimizer_->param_groups())
      group.options().set_lr(settings_.rate_after(updates_.load()));
  optimizer_->step();
  ++updates_;
  pending_samples_ = 0;
  return caf::none;
}

void expert_backend::drop_sum() {
  optimizer_->zero_grad();
  pending_samples_ = 0;
}

caf::error expert_backend::save(const std::string& path, uint64_t* updates_saved) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto temp = path + ".tmp";
  try {
    torch::serialize::OutputArchive archive;
    auto updates = updates_.load();
    archive.write("type", c10::IValue(info_.expert_type));
    archive.write("optimizer_kind", c10::IValue(settings_.kind));
    archive.write("updates", c10::IValue(static_cast<int64_t>(updates)));
    for (const auto& p : module_->named_parameters())
      archive.write("param/" + p.key(), p.value());
    for (const auto& b : module_->named_buffers())
      archive.write("buffer/" + b.key(), b.value(), /*is_buffer=*/true);
    torch::serialize::OutputArchive optimizer_archive;
    optimizer_->save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
    archive.save_to(temp);
    flush_to_disk(temp);
    std::filesystem::rename(temp, path);
    if (updates_saved != nullptr)
      *updates_saved = updates;
    return caf::none;
  } catch (const std::exception& e) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    return make_error(errc::internal, "writing checkpoint " + path + " failed: " + e.what());
  }
}

caf::error expert_backend::load(const std::string& path) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto fail = [&](const std::string& why) {
    return make_error(errc::invalid_argument, "checkpoint " + path + " does not fit expert "
                                                + info_.expert_id + ": " + why);
  };
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    c10::IValue type, kind, updates;
    archive.read("type", type);
    archive.read("optimizer_kind", kind);
    archive.read("updates", updates);
    if (!type.isString() || type.toStringRef() != info_.expert_type)
      return fail("it holds another expert type");
    if (!kind.isString() || kind.toStringRef() != settings_.kind)
      return fail("it holds another optimizer's state");
    // Read and check everything before changing anything.
    std::map<std::string, torch::Tensor> loaded;
    auto read_all = [&](const std::string& prefix, const torch::OrderedDict<std::string, torch::Tensor>& ts,
                        bool is_buffer) -> caf::error {
      for (const auto& t : ts) {
        torch::Tensor value;
        if (!archive.try_read(prefix + t.key(), value, is_buffer))
          return fail("it lacks " + prefix + t.key());
        if (value.sizes() != t.value().sizes() || value.scalar_type() != t.value().scalar_type())
          return fail(prefix + t.key() + " has another shape or dtype");
        loaded[prefix + t.key()] = value;
      }
      return caf::none;
    };
    if (auto err = read_all("param/", module_->named_parameters(), false))
      return err;
    if (auto err = read_all("buffer/", module_->named_buffers(), true))
      return err;
    auto optimizer = make_optimizer(settings_, module_->parameters());
    if (!optimizer)
      return optimizer.error();
    torch::serialize::InputArchive optimizer_archive;
    archive.read("optimizer", optimizer_archive);
    (*optimizer)->load(optimizer_archive);
    torch::NoGradGuard no_grad;
    for (auto& p : module_->named_parameters())
      p.value().copy_(loaded["param/" + p.key()]);
    for (auto& b : module_->named_buffers())
      b.value().copy_(loaded["buffer/" + b.key()]);
    optimizer_ = std::move(*optimizer);
    updates_ = static_cast<uint64_t>(updates.toInt());
    drop_sum();  // a partial sum belonged to the weights just replaced
    return caf::none;
  } catch (const std::exception& e) {
    return make_error(errc::invalid_argument, "reading checkpoint " + path + " failed: " + e.what());
  }
}

}  // namespace dmoe
