// Helpers shared by the server suites: small options, plain LibTorch training, a local twin
// of a hosted expert (same type, seed and optimizer), blocking calls to a server, stats lookups, temporary directories.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/config_value.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/settings.hpp>
#include <torch/types.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/optimizer.h>

#include "actors/server/server.hpp"
#include "actors/server/server_experts.hpp"
#include "messages/type_ids.hpp"
#include "runtime/expert_codec.hpp"
#include "tests/server/expert_calls.hpp"
#include "runtime/experts/expert_backend.hpp"
#include "messages/expert_pattern.hpp"

namespace dmoe::test {

constexpr int64_t small_hidden = 16;
constexpr const char* server_name = "test-server";

inline server_options small_options() {
  server_options o;
  o.expert_type = "ffn";
  o.expert_pattern = "ffn.[0:2].[0:2]";
  o.hidden = small_hidden;
  o.optimizer = optimizer_kind::adam;
  o.learning_rate = 1e-2;
  o.clip_grad_norm = 1.0;
  o.max_batch_size = 64;
  o.max_batch_wait = std::chrono::milliseconds(1);
  o.compute_threads = 1;
  o.torch_threads = 1;
  o.seed = 42;
  return o;
}

// Plain LibTorch: the module and optimizer a user would write, stepped by hand.
struct local_training {
  std::shared_ptr<expert_module> module;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  double clip;

  local_training(const std::string& type, optimizer_settings s, uint64_t seed,
                 int64_t hidden = small_hidden)
    : clip(s.clip_grad_norm) {
    module = *make_expert(type, hidden, seed);
    optimizer = std::move(*make_optimizer(s, module->parameters()));
  }

  torch::Tensor step(const torch::Tensor& x, const torch::Tensor& grad) {
    auto leaf = x.detach().requires_grad_(true);
    optimizer->zero_grad();
    auto out = module->forward({leaf})[0];
    out.backward(grad);
    if (clip > 0)
      torch::nn::utils::clip_grad_norm_(module->parameters(), clip);
    optimizer->step();
    return leaf.grad();
  }
};

/// Plain LibTorch training of the module the server builds for expert `id`.
inline local_training plain_twin(const server_options& o, const std::string& id,
                                 const std::string& name = server_name) {
  return local_training{o.expert_type, optimizer_settings_of(o),
                        expert_seed(server_seed(o, name), id), o.hidden};
}

/// A backend built exactly like the server builds expert `id`: same type, seed and optimizer.
inline std::shared_ptr<expert_backend> local_twin(const server_options& o, const std::string& id,
                                                  const std::string& name = server_name) {
  auto backend = expert_backend::create(id, o.expert_type, o.hidden, optimizer_settings_of(o),
                                        expert_seed(server_seed(o, name), id));
  if (!backend)
    throw std::runtime_error(describe(backend.error()));
  return *backend;
}

/// The tensors of a forward or backward reply; empty for anything else.
inline std::vector<torch::Tensor> tensors_of(const expert_reply& r) {
  if (auto* f = std::get_if<forward_result>(&r))
    return f->outputs;
  if (auto* b = std::get_if<backward_result>(&r))
    return b->grad_inputs;
  return {};
}

/// "ok" for a result, else the error's code name.
inline std::string outcome(const expert_reply& r) {
  if (auto* err = std::get_if<caf::error>(&r))
    return to_string(code_of(*err));
  return "ok";
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  if (!a.defined() || !b.defined() || a.sizes() != b.sizes())
    return 1e30;
  return (a - b).abs().max().item<double>();
}

/// Sends any message, typed or not (robustness tests send what the protocol does not hold).
template <class Reply, class Handle>
Reply ask(caf::actor_system& sys, const Handle& server, caf::message msg, Reply fallback,
          caf::timespan timeout = call_timeout) {
  caf::scoped_actor self{sys};
  Reply out = fallback;
  self->request(caf::actor_cast<caf::actor>(server), timeout, std::move(msg))
    .receive([&](Reply& r) { out = std::move(r); }, [&](caf::error&) {});
  return out;
}

inline server_stats stats(caf::actor_system& sys, const server_actor& server) {
  return ask<server_stats>(sys, server, caf::make_message(stats_atom::value), {});
}

inline uint32_t checkpoint(caf::actor_system& sys, const server_actor& server) {
  return ask<uint32_t>(sys, server, caf::make_message(server_checkpoint_atom::value), 9999);
}

inline uint32_t stop(caf::actor_system& sys, const server_actor& server) {
  return ask<uint32_t>(sys, server, caf::make_message(server_stop_atom::value), 9999);
}

/// The stats of expert `id`; the test fails when the server reports none.
inline hosted_expert_stats expert_stats(const server_stats& s, const std::string& id) {
  for (const auto& e : s.experts)
    if (e.id == id)
      return e;
  CAF_FAIL("the server reports no expert " << id);
}

/// A fresh, empty directory under the system's temp dir, removed by the destructor.
struct temp_dir {
  std::filesystem::path path;
  explicit temp_dir(const std::string& tag) {
    path = std::filesystem::temp_directory_path()
           / ("dmoe-" + tag + "-" + std::to_string(::getpid()) + "-"
              + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  std::string str() const {
    return path.string();
  }
};

}  // namespace dmoe::test
