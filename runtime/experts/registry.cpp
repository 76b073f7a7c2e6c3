// The expert type registry. Built-in types are added when the registry is first used (not by
// static initializers, which the linker may drop from a static library).
#include <exception>
#include <map>
#include <mutex>
#include <stdexcept>

#include <torch/utils.h>

#include "messages/errors.hpp"
#include "runtime/experts/builtin_experts.hpp"
#include "runtime/experts/expert_module.hpp"

namespace dmoe {

namespace {

struct registry {
  std::mutex mutex;
  std::map<std::string, expert_factory> factories;

  registry() {
    factories["ffn"] = [](int64_t hidden) { return std::make_shared<ffn_expert>(hidden); };
    factories["transformer"] = [](int64_t hidden) {
      return std::make_shared<transformer_expert>(hidden);
    };
    factories["causal-transformer"] = [](int64_t hidden) {
      return std::make_shared<transformer_expert>(hidden, true);
    };
  }
};

registry& the_registry() {
  static registry instance;
  return instance;
}

// Seeding LibTorch's global generator and drawing the initial weights must not interleave with
// another thread doing the same, or two experts could get each other's weights.
std::mutex& init_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

std::vector<torch::Tensor> expert_module::forward_saving(const std::vector<torch::Tensor>&,
                                                         std::vector<torch::Tensor>&) {
  throw std::logic_error("this expert type does not keep activations");
}

std::vector<torch::Tensor> expert_module::backward_saved(const std::vector<torch::Tensor>&,
                                                         const std::vector<torch::Tensor>&) {
  throw std::logic_error("this expert type does not keep activations");
}

void register_expert_type(const std::string& name, expert_factory factory) {
  auto& r = the_registry();
  std::lock_guard<std::mutex> guard{r.mutex};
  r.factories[name] = std::move(factory);
}

std::vector<std::string> expert_types() {
  auto& r = the_registry();
  std::lock_guard<std::mutex> guard{r.mutex};
  std::vector<std::string> out;
  for (auto& kv : r.factories)
    out.push_back(kv.first);
  return out;
}

caf::expected<std::shared_ptr<expert_module>> make_expert(const std::string& name, int64_t hidden,
                                                          uint64_t seed) {
  expert_factory factory;
  {
    auto& r = the_registry();
    std::lock_guard<std::mutex> guard{r.mutex};
    auto i = r.factories.find(name);
    if (i == r.factories.end()) {
      std::string known;
      for (auto& kv : r.factories)
        known += (known.empty() ? "" : ", ") + kv.first;
      return make_error(errc::invalid_argument,
                        "unknown expert type '" + name + "' (registered: " + known + ")");
    }
    factory = i->second;
  }
  if (hidden <= 0)
    return make_error(errc::invalid_argument, "expert hidden size must be positive");
  try {
    std::lock_guard<std::mutex> guard{init_mutex()};
    torch::manual_seed(seed);
    auto module = factory(hidden);
    if (!module)
      return make_error(errc::internal, "the factory of expert type '" + name + "' returned null");
    return module;
  } catch (const std::exception& e) {
    return make_error(errc::internal, "building expert type '" + name + "' failed: " + e.what());
  }
}

}  // namespace dmoe
