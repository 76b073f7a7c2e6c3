#include "runtime/experts/checkpoint_check.hpp"

#include <filesystem>

#include <fcntl.h>
#include <unistd.h>

#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>

namespace dmoe {

namespace {

std::optional<std::string> moment_problem(const std::string& name, const torch::Tensor& moment,
                                          const torch::Tensor& parameter) {
  if (!moment.defined())
    return std::nullopt;
  if (moment.sizes() != parameter.sizes() || moment.scalar_type() != parameter.scalar_type())
    return "optimizer state " + name + " has another shape or dtype than its parameter";
  return non_finite_problem("optimizer state " + name, moment);
}

}  // namespace

std::optional<std::string> non_finite_problem(const std::string& name, const torch::Tensor& value) {
  if (value.is_floating_point() && !torch::isfinite(value).all().item<bool>())
    return name + " holds a NaN or an infinity";
  return std::nullopt;
}

std::optional<std::string> optimizer_state_problem(torch::optim::Optimizer& optimizer,
                                                   const std::vector<torch::Tensor>& parameters) {
  auto& states = optimizer.state();
  for (size_t i = 0; i < parameters.size(); ++i) {
    const auto& p = parameters[i];
    auto found = states.find(c10::guts::to_string(p.unsafeGetTensorImpl()));
    if (found == states.end())
      continue;
    auto index = "#" + std::to_string(i);
    if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(found->second.get())) {
      if (adam->step() < 0)
        return "optimizer state " + index + " has a negative step count";
      for (auto [name, moment] : {std::pair{"exp_avg", adam->exp_avg()},
                                  std::pair{"exp_avg_sq", adam->exp_avg_sq()},
                                  std::pair{"max_exp_avg_sq", adam->max_exp_avg_sq()}})
        if (auto problem = moment_problem(std::string{name} + index, moment, p))
          return problem;
      if (adam->exp_avg_sq().defined() && (adam->exp_avg_sq() < 0).any().item<bool>())
        return "optimizer state exp_avg_sq" + index + " is negative";
    } else if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(found->second.get())) {
      if (auto problem = moment_problem("momentum_buffer" + index, sgd->momentum_buffer(), p))
        return problem;
    }
  }
  return std::nullopt;
}

void sync_parent_directory(const std::string& path) {
  auto dir = std::filesystem::path{path}.parent_path();
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::optional<std::string> move_aside(const std::string& path) {
  std::error_code ec;
  auto target = path + ".bad";
  for (int n = 1; std::filesystem::exists(target, ec) && n < 1000; ++n)
    target = path + ".bad." + std::to_string(n);
  std::filesystem::rename(path, target, ec);
  if (ec)
    return std::nullopt;
  sync_parent_directory(path);
  return target;
}

}  // namespace dmoe
