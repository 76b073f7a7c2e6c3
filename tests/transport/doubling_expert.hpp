// A stand-in expert for the transport tests: it speaks the real expert protocol, a request
// `(expert_rpc_atom, payload)` answered with a `payload`, but computes 2 * x. Forward returns
// each input doubled, backward returns each gradient doubled (d(2x)/dx = 2), info describes it.
// Anything it cannot decode or serve is answered with an encoded error reply, never by dying.
#pragma once

#include <exception>
#include <utility>

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>

#include "runtime/expert_codec.hpp"
#include "messages/type_ids.hpp"

namespace dmoe::test {

constexpr const char* doubling_expert_type = "doubling";

inline caf::expected<std::vector<torch::Tensor>> doubled(const std::vector<torch::Tensor>& xs) {
  std::vector<torch::Tensor> out;
  for (const auto& x : xs) {
    if (!x.is_floating_point())
      return make_error(errc::dtype_mismatch, "the doubling expert takes floating-point tensors");
    out.push_back(x * 2);
  }
  return out;
}

/// Decodes one expert call and encodes the reply (an error reply on any failure).
inline payload serve_doubling(payload&& request, const wire_limits& limits) {
  try {
    auto call = decode_expert_call(std::move(request), limits);
    if (!call)
      return encode(expert_reply{call.error()});
    if (auto* fwd = std::get_if<forward_call>(&*call)) {
      auto outputs = doubled(fwd->inputs);
      if (!outputs)
        return encode(expert_reply{outputs.error()});
      return encode(expert_reply{forward_result{std::move(*outputs)}});
    }
    if (auto* bwd = std::get_if<backward_call>(&*call)) {
      auto grads = doubled(bwd->grad_outputs);
      if (!grads)
        return encode(expert_reply{grads.error()});
      return encode(expert_reply{backward_result{std::move(*grads)}});
    }
    const auto& info = std::get<info_call>(*call);
    return encode(expert_reply{expert_info{info.expert_id,
                                           doubling_expert_type,
                                           {{torch::kFloat32, {-1, -1}}},
                                           {{torch::kFloat32, {-1, -1}}}}});
  } catch (const std::exception& e) {
    return encode(expert_reply{make_error(errc::internal, e.what())});
  }
}

inline caf::behavior doubling_expert(caf::event_based_actor*) {
  return {
    [](expert_rpc_atom, payload& request) -> payload {
      return serve_doubling(std::move(request), wire_limits{});
    },
  };
}

}  // namespace dmoe::test
