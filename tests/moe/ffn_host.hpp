// An in-process stand-in for an expert server, for the moe tests: one detached actor (its own
// thread, so LibTorch never runs on a scheduler thread) hosting several small ffn experts and
// speaking the real expert protocol, `(expert_rpc_atom, payload) -> payload`. Forward computes
// W2 tanh(W1 x + b1) + b2; backward recomputes the forward and returns d loss / d x (weights are
// never updated, so gradients can be compared with a local computation). A `dies` host takes
// the first request and exits without answering, like a crashed server; a `misbehaves` host
// answers forwards with outputs one column too wide; a `stalls` host takes every request and
// never answers, like a hung server.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <torch/csrc/autograd/autograd.h>
#include <torch/types.h>
#include <torch/utils.h>

#include "messages/type_ids.hpp"
#include "runtime/expert_codec.hpp"

namespace dmoe::test {

struct ffn_expert {
  torch::Tensor w1, b1, w2, b2;

  ffn_expert(int64_t in, int64_t hidden) {
    w1 = torch::randn({hidden, in}) / std::sqrt(static_cast<double>(in));
    b1 = torch::randn({hidden}) * 0.1;
    w2 = torch::randn({hidden, hidden}) / std::sqrt(static_cast<double>(hidden));
    b2 = torch::randn({hidden}) * 0.1;
  }

  torch::Tensor forward(const torch::Tensor& x) const {
    return torch::tanh(x.mm(w1.t()) + b1).mm(w2.t()) + b2;
  }
};

using ffn_map = std::map<std::string, std::shared_ptr<const ffn_expert>>;

struct host_counters {
  std::atomic<int> forwards{0};
  std::atomic<int> backwards{0};
};

inline payload serve_ffn(const ffn_map& experts, payload&& request, host_counters& counters) {
  auto call = decode_expert_call(std::move(request));
  if (!call)
    return encode(expert_reply{call.error()});
  if (auto* fwd = std::get_if<forward_call>(&*call)) {
    auto i = experts.find(fwd->expert_id);
    if (i == experts.end())
      return encode(expert_reply{make_error(errc::unknown_expert, fwd->expert_id)});
    ++counters.forwards;
    torch::NoGradGuard no_grad;
    return encode(expert_reply{forward_result{{i->second->forward(fwd->inputs.at(0))}}});
  }
  if (auto* bwd = std::get_if<backward_call>(&*call)) {
    auto i = experts.find(bwd->expert_id);
    if (i == experts.end())
      return encode(expert_reply{make_error(errc::unknown_expert, bwd->expert_id)});
    ++counters.backwards;
    auto x = bwd->inputs.at(0).clone().requires_grad_(true);
    auto y = i->second->forward(x);
    auto grads = torch::autograd::grad({y}, {x}, {bwd->grad_outputs.at(0)});
    return encode(expert_reply{backward_result{{grads[0]}}});
  }
  return encode(expert_reply{make_error(errc::invalid_argument, "info is not served here")});
}

enum class host_mode { healthy, dies, misbehaves, stalls };

inline caf::behavior ffn_host(caf::event_based_actor* self, ffn_map experts,
                              std::shared_ptr<host_counters> counters, host_mode mode) {
  return {
    [=](expert_rpc_atom, payload& request) -> caf::result<payload> {
      if (mode == host_mode::misbehaves) {
        ++counters->forwards;
        return encode(expert_reply{forward_result{{torch::zeros({1, 1})}}});
      }
      if (mode == host_mode::stalls)
        return self->make_response_promise<payload>();  // never delivered
      if (mode == host_mode::dies) {
        auto held = self->make_response_promise<payload>();  // never delivered
        self->quit(caf::exit_reason::kill);
        return held;
      }
      return serve_ffn(experts, std::move(request), *counters);
    },
  };
}

}  // namespace dmoe::test
