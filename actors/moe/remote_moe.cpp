#include "actors/moe/remote_moe.hpp"

#include <limits>

#include <caf/scoped_actor.hpp>
#include <torch/csrc/autograd/custom_function.h>

#include "actors/moe/router.hpp"
#include "messages/errors.hpp"

namespace dmoe {

moe_call_error::moe_call_error(caf::error err)
  : std::runtime_error("dmoe layer: " + describe(err)), error_(std::move(err)) {
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// What the autograd function needs besides x: kept in the autograd context as a capsule.
struct call_context : torch::CustomClassHolder {
  caf::actor_system* system = nullptr;
  moe::router_actor router;
  moe_options options;
  int64_t hidden = 0;
  std::vector<torch::Tensor> scores;  // detached gating scores, one per grid dimension
  std::shared_ptr<moe::forward_job> job;
  std::shared_ptr<moe_layer_report> report;
};

template <class Atom, class Job>
void ask_router(const call_context& c, Atom atom, const std::shared_ptr<Job>& job,
                caf::timespan timeout) {
  caf::scoped_actor self{*c.system};
  caf::error failure;
  self->request(c.router, timeout + router_reply_margin, atom, job)
    .receive([](caf::ok_atom) {}, [&](caf::error& err) { failure = std::move(err); });
  if (failure)
    throw moe_call_error(std::move(failure));
}

// Calls the experts: outputs [B, k, hidden] (differentiable w.r.t. x), mask [B, k], coords.
class remote_experts_call : public torch::autograd::Function<remote_experts_call> {
public:
  static variable_list forward(AutogradContext* ctx, torch::Tensor x,
                               c10::intrusive_ptr<call_context> c) {
    auto job = std::make_shared<moe::forward_job>();
    job->inputs = x.detach().to(torch::kFloat32).contiguous();
    job->scores = c->scores;
    job->hidden = c->hidden;
    job->expert_prefix = c->options.expert_prefix;
    ask_router(*c, moe::moe_forward_atom::value, job, c->options.forward_timeout);
    c->report->forward = job->timing;
    c->report->samples_below_k_min = job->samples_below_k_min;
    c->report->answered_slots = static_cast<size_t>(job->mask.sum().item<int64_t>());
    c->job = job;
    ctx->mark_non_differentiable({job->mask, job->coords});
    ctx->saved_data["call"] = c10::IValue::make_capsule(c);
    // The outputs returned get this node as their grad_fn. Returned as they are, the node's
    // saved job would hold them, and they the node: a cycle that kept every step's graph alive
    // (an LM trainer grew by ~40 MB per step). An alias of their storage breaks it.
    return {job->outputs.detach(), job->mask, job->coords};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto c = c10::static_intrusive_pointer_cast<call_context>(ctx->saved_data["call"].toCapsule());
    auto job = std::make_shared<moe::backward_job>();
    job->forward = c->job;
    job->grad_outputs = grads[0].defined() ? grads[0].to(torch::kFloat32).contiguous()
                                           : torch::zeros_like(c->job->outputs);
    ask_router(*c, moe::moe_backward_atom::value, job, c->options.backward_timeout);
    c->report->backward = job->timing;
    return {job->grad_inputs, torch::Tensor()};
  }
};

}  // namespace

RemoteMixtureOfExpertsImpl::RemoteMixtureOfExpertsImpl(caf::actor_system& system,
                                                       moe::router_actor router, int64_t in_features,
                                                       int64_t hidden, moe_options options)
  : system_(&system),
    router_(std::move(router)),
    in_features_(in_features),
    hidden_(hidden),
    options_(std::move(options)) {
  TORCH_CHECK(!options_.grid.empty(), "RemoteMixtureOfExperts needs a grid");
  TORCH_CHECK(in_features > 0 && hidden > 0, "RemoteMixtureOfExperts needs positive sizes");
  for (size_t d = 0; d < options_.grid.size(); ++d) {
    TORCH_CHECK(options_.grid[d] > 0, "grid dimensions must be positive");
    gates_.push_back(register_module("gate" + std::to_string(d),
                                     torch::nn::Linear(in_features, options_.grid[d])));
  }
}

torch::Tensor RemoteMixtureOfExpertsImpl::forward(torch::Tensor x) {
  TORCH_CHECK((x.dim() == 2 || x.dim() == 3) && x.size(-1) == in_features_,
              "RemoteMixtureOfExperts expects [batch, ", in_features_, "] or [batch, tokens, ",
              in_features_, "] inputs");
  // A sequence is gated on its first position: in a causal model it is the only summary every
  // position may see (a mean over the sequence would tell each position about later tokens).
  auto gate_input = x.dim() == 3 ? x.select(1, 0) : x;
  std::vector<torch::Tensor> logits;
  auto c = c10::make_intrusive<call_context>();
  c->system = system_;
  c->router = router_;
  c->options = options_;
  c->hidden = hidden_;
  c->report = report_;
  for (auto& gate : gates_) {
    logits.push_back(gate->forward(gate_input));
    c->scores.push_back(logits.back().detach().to(torch::kFloat32).contiguous());
  }
  auto result = remote_experts_call::apply(x, c);
  const auto& outputs = result[0];
  const auto& mask = result[1];
  const auto& coords = result[2];
  last_coords_ = coords;
  last_mask_ = mask;
  last_logits_ = logits;
  // An expert's score is the sum of its coordinates' gating logits.
  auto scores = torch::zeros(mask.sizes(), logits.front().options());
  for (size_t d = 0; d < logits.size(); ++d) {
    auto index = coords.select(2, static_cast<int64_t>(d)).clamp_min(0);
    scores = scores + logits[d].gather(1, index);
  }
  // Softmax over the answering experts only; a sample without answers (allow_zero_outputs)
  // gets all-zero weights instead of NaNs.
  auto minus_inf = torch::full_like(scores, -std::numeric_limits<float>::infinity());
  auto masked = torch::where(mask, scores, minus_inf);
  masked = torch::where(mask.any(1, true), masked, torch::zeros_like(scores));
  auto weights = torch::softmax(masked, 1) * mask.to(scores.scalar_type());
  while (weights.dim() < outputs.dim())
    weights = weights.unsqueeze(-1);
  return (weights * outputs).sum(1);
}

}  // namespace dmoe
