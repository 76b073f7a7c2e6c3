#include "runtime/experts/expert_backend.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <map>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <torch/csrc/autograd/autograd.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "messages/errors.hpp"
#include "runtime/experts/checkpoint_check.hpp"
#include "runtime/experts/fused_adam.hpp"
#include "runtime/experts/request_check.hpp"
#include "runtime/experts/tensor_batch.hpp"

namespace dmoe {

namespace {

// LibTorch's messages go on with a C++ backtrace after the first line: keep the reason only.
std::string reason(const std::exception& e) {
  std::string text = e.what();
  auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

caf::error compute_error(const char* what, const std::exception& e) {
  return make_error(errc::internal, std::string(what) + " failed: " + reason(e));
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
  out.outlier_factor = options.outlier_factor;
  return out;
}

activation_settings activation_settings_of(const server_options& options, size_t experts) {
  activation_settings out;
  out.budget_bytes = options.activation_memory_mb * (size_t{1} << 20) / std::max<size_t>(experts, 1);
  out.ttl = std::chrono::duration_cast<std::chrono::steady_clock::duration>(options.activation_ttl);
  return out;
}

caf::expected<std::unique_ptr<torch::optim::Optimizer>>
make_optimizer(const optimizer_settings& s, std::vector<torch::Tensor> parameters) {
  if (s.kind == optimizer_kind::adam)
    return std::unique_ptr<torch::optim::Optimizer>{new torch::optim::Adam(
      std::move(parameters),
      torch::optim::AdamOptions(s.learning_rate).weight_decay(s.weight_decay))};
  return std::unique_ptr<torch::optim::Optimizer>{new torch::optim::SGD(
    std::move(parameters),
    torch::optim::SGDOptions(s.learning_rate).momentum(s.momentum).weight_decay(s.weight_decay))};
}

caf::expected<std::shared_ptr<expert_backend>>
expert_backend::create(std::string id, const std::string& type, int64_t hidden,
                       optimizer_settings settings, uint64_t seed,
                       activation_settings activations) {
  auto module = make_expert(type, hidden, seed);
  if (!module)
    return module.error();
  auto optimizer = make_optimizer(settings, (*module)->parameters());
  if (!optimizer)
    return optimizer.error();
  expert_info info{std::move(id), type, (*module)->input_schema(), (*module)->output_schema()};
  return std::shared_ptr<expert_backend>{new expert_backend(
    std::move(info), std::move(*module), std::move(*optimizer), std::move(settings), activations)};
}

expert_backend::expert_backend(expert_info info, std::shared_ptr<expert_module> module,
                               std::unique_ptr<torch::optim::Optimizer> optimizer,
                               optimizer_settings settings, activation_settings activations)
  : info_(std::move(info)),
    settings_(std::move(settings)),
    module_(std::move(module)),
    optimizer_(std::move(optimizer)),
    kept_(module_->keeps_activations() ? activations.budget_bytes : 0, activations.ttl) {
}

caf::expected<std::vector<torch::Tensor>>
expert_backend::forward(const call_tensors& calls, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mutex_};
  try {
    torch::NoGradGuard no_grad;
    auto merged = concat_calls(calls);
    if (kept_.budget() == 0)
      return module_->forward(merged);
    std::vector<torch::Tensor> saved;
    auto outputs = module_->forward_saving(merged, saved);
    std::vector<activation_store::call> kept;
    for (const auto* call : calls)
      kept.push_back({*call, batch_size_of(*call)});
    kept_.keep(std::move(saved), std::move(kept), now);
    publish_activation_counters();
    return outputs;
  } catch (const std::exception& e) {
    return compute_error("forward", e);
  }
}

caf::expected<std::vector<torch::Tensor>>
expert_backend::backward(const call_tensors& inputs, const call_tensors& grad_outputs,
                         clock::time_point now) {
  std::lock_guard<std::mutex> guard{mutex_};
  try {
    if (pending_samples_ == 0)
      optimizer_->zero_grad();
    auto merged_grads = concat_calls(grad_outputs);
    std::vector<torch::Tensor> grad_inputs;
    int64_t samples = 0;
    for (const auto* call : inputs)
      samples += batch_size_of(*call);
    if (module_->keeps_activations()) {
      auto saved = activations_of(inputs, now);
      grad_inputs = module_->backward_saved(saved, merged_grads);
    } else {
      activation_counters_.recomputed += inputs.size();
      grad_inputs = backward_recomputing(concat_calls(inputs), merged_grads);
    }
    pending_samples_ += static_cast<uint64_t>(samples);
    if (pending_samples_ >= std::max<uint64_t>(settings_.accumulate_samples, 1))
      if (auto err = step_with_sum())
        return err;
    return grad_inputs;
  } catch (const std::exception& e) {
    drop_sum();  // it may hold part of this batch's gradients
    return compute_error("backward", e);
  }
}

caf::expected<std::vector<torch::Tensor>>
expert_backend::forward(const std::vector<torch::Tensor>& inputs) {
  return forward(call_tensors{&inputs}, clock::now());
}

caf::expected<std::vector<torch::Tensor>>
expert_backend::backward(const std::vector<torch::Tensor>& inputs,
                         const std::vector<torch::Tensor>& grad_outputs) {
  return backward(call_tensors{&inputs}, call_tensors{&grad_outputs}, clock::now());
}

std::vector<torch::Tensor> expert_backend::activations_of(const call_tensors& inputs,
                                                          clock::time_point now) {
  std::vector<std::optional<activation_store::rows>> found;
  call_tensors missing;
  for (const auto* call : inputs) {
    found.push_back(kept_.budget() > 0 ? kept_.take(*call, now) : std::nullopt);
    if (!found.back())
      missing.push_back(call);
  }
  activation_counters_.recomputed += missing.size();
  activation_counters_.used += inputs.size() - missing.size();
  publish_activation_counters();
  std::vector<torch::Tensor> recomputed;
  if (!missing.empty())
    module_->forward_saving(concat_calls(missing), recomputed);
  if (missing.size() == inputs.size())
    return recomputed;
  // Rows of one kept block in their order need no copy.
  bool one_block = missing.empty();
  for (size_t i = 1; one_block && i < found.size(); ++i)
    one_block = found[i]->from == found[0]->from
                && found[i]->offset == found[i - 1]->offset + found[i - 1]->count;
  if (one_block) {
    auto rows = found.back()->offset + found.back()->count - found.front()->offset;
    std::vector<torch::Tensor> out;
    for (const auto& t : found.front()->from->saved)
      out.push_back(t.narrow(0, found.front()->offset, rows));
    return out;
  }
  auto tensors = found.front() ? found.front()->from->saved.size() : recomputed.size();
  std::vector<torch::Tensor> out;
  for (size_t k = 0; k < tensors; ++k) {
    std::vector<torch::Tensor> parts;
    int64_t missing_offset = 0;
    for (size_t i = 0; i < found.size(); ++i) {
      if (found[i]) {
        parts.push_back(found[i]->from->saved.at(k).narrow(0, found[i]->offset, found[i]->count));
      } else {
        auto rows = batch_size_of(*inputs[i]);
        parts.push_back(recomputed.at(k).narrow(0, missing_offset, rows));
        missing_offset += rows;
      }
    }
    out.push_back(torch::cat(parts, 0));
  }
  return out;
}

std::vector<torch::Tensor>
expert_backend::backward_recomputing(const std::vector<torch::Tensor>& inputs,
                                     const std::vector<torch::Tensor>& grad_outputs) {
  torch::AutoGradMode grad_mode{true};
  std::vector<torch::Tensor> leaves;
  for (const auto& x : inputs)
    leaves.push_back(x.detach().requires_grad_(x.is_floating_point()));
  auto outputs = module_->forward(leaves);
  torch::autograd::backward(outputs, grad_outputs);  // adds to the parameters' gradients
  std::vector<torch::Tensor> grad_inputs;
  for (auto& leaf : leaves)
    grad_inputs.push_back(leaf.grad().defined() ? leaf.grad() : torch::zeros_like(leaf));
  return grad_inputs;
}

void expert_backend::publish_activation_counters() {
  const auto& s = kept_.stats();
  activation_counters_.kept = s.kept;
  activation_counters_.evicted = s.evicted;
  activation_counters_.expired = s.expired;
  activation_counters_.bytes = kept_.bytes();
}

caf::error expert_backend::step_with_sum() {
  auto summed = pending_samples_.load();
  // Checked with or without clipping: one NaN would spread through Adam's moments into every
  // weight, and the next checkpoint would keep it.
  auto norm = gradient_norm(module_->parameters());
  if (!std::isfinite(norm)) {
    drop_sum();
    return make_error(errc::non_finite, "gradient norm is not finite; the update of "
                                            + std::to_string(summed) + " samples skipped");
  }
  double grad_scale = 1.0;  // clip_grad_norm_'s coefficient, applied inside the step
  if (settings_.clip_grad_norm > 0)
    grad_scale = std::min(1.0, settings_.clip_grad_norm / (norm + 1e-6));
  if (settings_.warmup_updates > 0)
    for (auto& group : optimizer_->param_groups())
      group.options().set_lr(settings_.rate_after(updates_.load()));
  if (auto* adam = dynamic_cast<torch::optim::Adam*>(optimizer_.get())) {
    auto clipped = fused_adam_step(*adam, grad_scale, settings_.outlier_factor);
    if (clipped > 0)
      ++clipped_updates_;
  } else {
    if (grad_scale != 1.0) {
      torch::NoGradGuard no_grad;
      for (auto& p : module_->parameters())
        if (p.grad().defined())
          p.mutable_grad().mul_(grad_scale);
    }
    optimizer_->step();
  }
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
    archive.write("optimizer_kind", c10::IValue(std::string{name_of(settings_.kind)}));
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
    sync_parent_directory(path);
    if (updates_saved != nullptr)
      *updates_saved = updates;
    return caf::none;
  } catch (const std::exception& e) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    return make_error(errc::internal, "writing checkpoint " + path + " failed: " + reason(e));
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
    if (!kind.isString() || kind.toStringRef() != name_of(settings_.kind))
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
        if (auto problem = non_finite_problem(prefix + t.key(), value))
          return fail(*problem);
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
    if (auto problem = optimizer_state_problem(**optimizer, module_->parameters()))
      return fail(*problem);
    torch::NoGradGuard no_grad;
    for (auto& p : module_->named_parameters())
      p.value().copy_(loaded["param/" + p.key()]);
    for (auto& b : module_->named_buffers())
      b.value().copy_(loaded["buffer/" + b.key()]);
    optimizer_ = std::move(*optimizer);
    updates_ = static_cast<uint64_t>(updates.toInt());
    kept_.clear();  // activations of the weights just replaced
    publish_activation_counters();
    drop_sum();  // a partial sum belonged to the weights just replaced
    return caf::none;
  } catch (const std::exception& e) {
    return make_error(errc::invalid_argument, "reading checkpoint " + path + " failed: " + reason(e));
  }
}

}  // namespace dmoe
