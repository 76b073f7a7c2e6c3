// Backward jobs: the grad rows of every answered forward call go back to the same replica;
// backward_k_min / timeout_after_k_min / backward_timeout; missing answers add zero.
#include <fmt/core.h>

#include "actors/moe/call_reply.hpp"
#include "actors/moe/router_state.hpp"
#include "messages/errors.hpp"
#include "runtime/expert_codec.hpp"
#include "runtime/tensor_codec.hpp"

namespace dmoe::moe {

namespace {

caf::error check_backward_job(const backward_job& job) {
  if (!job.forward || !job.forward->inputs.defined() || !job.forward->outputs.defined())
    return make_error(errc::invalid_argument, "backward job without its finished forward job");
  const auto& out = job.forward->outputs;
  if (!job.grad_outputs.defined() || job.grad_outputs.sizes() != out.sizes()
      || job.grad_outputs.scalar_type() != torch::kFloat32)
    return make_error(errc::shape_mismatch, "grad_outputs must match the forward outputs [B, k, ..., hidden]");
  return {};
}

}  // namespace

void router_state::start_backward(backward_job_ptr job, job_promise promise) {
  if (!job)
    return promise.deliver(make_error(errc::invalid_argument, "empty backward job")), void();
  if (auto err = check_backward_job(*job))
    return promise.deliver(std::move(err)), void();
  const auto& fwd = *job->forward;
  auto batch = static_cast<size_t>(fwd.inputs.size(0));
  auto id = next_id_++;
  auto& st = backwards_[id];
  st.started = steady::now();
  st.progress = quorum(batch, setup_.options.backward_k_min, false);
  job->grad_inputs = torch::zeros_like(fwd.inputs);
  auto deadline = st.started + setup_.options.backward_timeout;
  st.job = job;
  st.promise = std::move(promise);
  self_->delayed_send(self_, setup_.options.backward_timeout, moe_deadline_atom::value, id);
  auto grads = job->grad_outputs.contiguous();
  for (auto& answered : backward_calls(fwd.answered, servers_)) {
    auto started = steady::now();
    auto rows = torch::tensor(answered.rows, torch::kInt64);
    auto slots = torch::tensor(answered.slots, torch::kInt64);
    auto inputs = fwd.inputs.index_select(0, rows);
    auto grad_rows = grads.index({rows, slots});
    auto request = encode(expert_call{backward_call{answered.expert_id, {inputs}, {grad_rows}}},
                          wire_compression(setup_.options.compression));
    job->timing.encode_ms += ms_since(started);
    st.progress.sent(answered.rows);
    ++job->timing.calls;
    call(call_record{std::move(answered), id, true, false, {}}, std::move(request), deadline);
  }
  job->timing.routing_ms = 0;
  backward_progress(id);
}

void router_state::backward_reply(const call_record& rec, payload& reply) {
  auto i = backwards_.find(rec.job);
  auto started = steady::now();
  std::vector<int64_t> shape;
  if (i != backwards_.end()) {
    shape = i->second.job->forward->inputs.sizes().vec();
    shape[0] = static_cast<int64_t>(rec.rows.size());
  }
  auto grad = decode_call_reply(std::move(reply), setup_.limits, call_direction::backward, shape);
  auto problem = grad ? caf::error{} : grad.error();
  record_end(rec, !problem);
  if (i == backwards_.end())
    return;
  if (problem) {
    note_refusal(rec, problem);
    return backward_failed(rec);
  }
  auto& st = i->second;
  st.job->grad_inputs.index_add_(0, torch::tensor(rec.rows, torch::kInt64), *grad);
  st.job->timing.decode_ms += ms_since(started);
  st.progress.answered(rec.rows);
  backward_progress(rec.job);
}

void router_state::backward_failed(const call_record& rec) {
  auto i = backwards_.find(rec.job);
  if (i == backwards_.end())
    return;
  i->second.progress.failed(rec.rows);
  backward_progress(rec.job);
}

void router_state::backward_progress(uint64_t id) {
  auto i = backwards_.find(id);
  if (i != backwards_.end() && advance(i->second.progress.next(), id))
    finish_backward(id);
}

void router_state::finish_backward(uint64_t id) {
  auto node = backwards_.extract(id);
  auto& st = node.mapped();
  auto& job = *st.job;
  auto below = st.progress.below_k_min();
  job.timing.total_ms = ms_since(st.started);
  job.timing.wait_ms = job.timing.total_ms;
  if (below > 0)
    log_->debug("backward: {} of {} samples got fewer than backward_k_min={} gradients",
                below, st.progress.samples(), setup_.options.backward_k_min);
  st.promise.deliver(caf::ok_atom::value);
}

}  // namespace dmoe::moe
