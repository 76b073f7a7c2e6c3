// Forward jobs: beam search over the DHT, one call per chosen expert, rerouting to spares,
// k_min / timeout_after_k_min / forward_timeout.
#include <fmt/core.h>

#include "actors/moe/call_reply.hpp"
#include "actors/moe/router_state.hpp"
#include "messages/errors.hpp"
#include "messages/expert_id.hpp"
#include "runtime/expert_codec.hpp"
#include "runtime/tensor_codec.hpp"

namespace dmoe::moe {

namespace {

torch::Tensor index_tensor(const std::vector<int64_t>& xs) {
  return torch::tensor(xs, torch::kInt64);
}

caf::error check_forward_job(const forward_job& job, const moe_options& opt) {
  if (opt.grid.empty() || opt.k_best == 0 || opt.k_min > opt.k_best)
    return make_error(errc::invalid_argument, "moe options need a grid, k_best > 0, k_min <= k_best");
  if (!job.inputs.defined() || job.inputs.dim() < 2 || job.inputs.size(0) == 0
      || job.inputs.scalar_type() != torch::kFloat32)
    return make_error(errc::shape_mismatch,
                      "moe inputs must be a non-empty [batch, ..., features] float32 tensor");
  if (!job.expert_prefix.empty() && !is_valid_expert_id(job.expert_prefix + ".0"))
    return make_error(errc::invalid_argument, "moe job for a malformed grid name");
  if (job.hidden <= 0)
    return make_error(errc::invalid_argument, "moe job without an output width");
  if (job.scores.size() != opt.grid.size())
    return make_error(errc::shape_mismatch, fmt::format("moe job has {} score tensors for a {}-d grid",
                                                        job.scores.size(), opt.grid.size()));
  for (size_t d = 0; d < opt.grid.size(); ++d) {
    const auto& s = job.scores[d];
    if (!s.defined() || s.dim() != 2 || s.size(0) != job.inputs.size(0) || s.size(1) != opt.grid[d]
        || s.scalar_type() != torch::kFloat32)
      return make_error(errc::shape_mismatch,
                        fmt::format("gating scores of dimension {} must be [batch, {}] float32", d,
                                    opt.grid[d]));
  }
  return {};
}

}  // namespace

std::vector<int64_t> output_shape(const forward_job& job, std::vector<int64_t> leading) {
  auto in = job.inputs.sizes();
  leading.insert(leading.end(), in.begin() + 1, in.end() - 1);
  leading.push_back(job.hidden);
  return leading;
}

void router_state::start_forward(forward_job_ptr job, job_promise promise) {
  if (!job)
    return promise.deliver(make_error(errc::invalid_argument, "empty moe job")), void();
  if (auto err = check_forward_job(*job, setup_.options))
    return promise.deliver(std::move(err)), void();
  cache_->evict_stale(now());
  const auto& opt = setup_.options;
  auto batch = job->inputs.size(0);
  auto k = static_cast<int64_t>(opt.k_best);
  job->inputs = job->inputs.contiguous();
  job->outputs = torch::zeros(output_shape(*job, {batch, k}), torch::kFloat32);
  job->mask = torch::zeros({batch, k}, torch::kBool);
  job->coords = torch::full({batch, k, static_cast<int64_t>(opt.grid.size())}, -1, torch::kInt64);
  job->answered.clear();
  std::vector<torch::Tensor> scores;
  for (const auto& s : job->scores)
    scores.push_back(s.detach().contiguous());
  std::vector<std::vector<std::vector<float>>> sample_scores;
  for (int64_t b = 0; b < batch; ++b) {
    auto& dims = sample_scores.emplace_back();
    for (const auto& s : scores) {
      const float* row = s.data_ptr<float>() + b * s.size(1);
      dims.emplace_back(row, row + s.size(1));
    }
  }
  route_rules rules{opt.k_best, std::max(min_spares_per_sample, opt.k_best), opt.k_min,
                    !opt.allow_zero_outputs};
  auto id = next_id_++;
  auto& st = forwards_[id];
  st.route = forward_route(job->expert_prefix.empty() ? opt.expert_prefix : job->expert_prefix,
                           std::move(sample_scores), rules);
  st.started = steady::now();
  st.deadline = st.started + opt.forward_timeout;
  st.job = std::move(job);
  st.promise = std::move(promise);
  self_->delayed_send(self_, opt.forward_timeout, moe_deadline_atom::value, id);
  carry_out(id, st.route.start());
}

void router_state::forward_lookups_done(uint64_t id) {
  auto& st = forwards_.at(id);
  auto next = st.route.lookups_done(now(), servers_);
  if (st.route.routed()) {
    st.job->timing.routing_ms = ms_since(st.started);
    st.first_call = steady::now();
  }
  carry_out(id, std::move(next));
}

void router_state::carry_out(uint64_t id, route_actions next) {
  for (const auto& endpoint : next.probes)
    probe(endpoint);
  if (next.ask_limit)
    ask_batch_limit(id, std::move(*next.ask_limit));
  for (auto& call : next.calls)
    send_forward_call(id, std::move(call));
  if (forwards_.at(id).route.routed())
    forward_progress(id);
  else
    fetch(id, next.lookups);
}

void router_state::send_forward_call(uint64_t id, routed_call planned) {
  auto& st = forwards_.at(id);
  auto started = steady::now();
  auto inputs = st.job->inputs.index_select(0, index_tensor(planned.rows));
  auto request = encode(expert_call{forward_call{planned.expert_id, {inputs}}},
                        wire_compression(setup_.options.compression));
  st.job->timing.encode_ms += ms_since(started);
  call(call_record{std::move(planned), id, false, false, {}}, std::move(request), st.deadline);
}

void router_state::ask_batch_limit(uint64_t id, routed_call planned) {
  auto request = encode(expert_call{info_call{planned.expert_id}});
  call(call_record{std::move(planned), id, false, true, {}}, std::move(request),
       forwards_.at(id).deadline);
}

void router_state::batch_limit_reply(const call_record& rec, payload& reply) {
  servers_.call_finished(rec.server, -1.0);  // no latency sample: it computed nothing
  auto decoded = decode_expert_reply(std::move(reply), setup_.limits);
  auto* info = decoded ? std::get_if<expert_info>(&*decoded) : nullptr;
  auto limit = info != nullptr ? info->max_batch_size : 0;
  if (!batch_limit_usable(limit, rec.rows.size())) {
    log_->warn("expert {} at {} refused {} rows as too many but says it takes {}", rec.expert_id,
               rec.server, rec.rows.size(), limit);
    return forward_failed(rec);
  }
  if (servers_.batch_limit(rec.server) != limit)
    log_->info("server {} takes at most {} rows per call; splitting calls to it", rec.server,
               limit);
  servers_.set_batch_limit(rec.server, limit);
  auto i = forwards_.find(rec.job);
  if (i == forwards_.end())
    return;
  carry_out(rec.job, i->second.route.resend(rec, now(), servers_));
}

void router_state::forward_reply(const call_record& rec, payload& reply) {
  auto i = forwards_.find(rec.job);
  auto started = steady::now();
  auto shape = i == forwards_.end()
                 ? std::vector<int64_t>{}
                 : output_shape(*i->second.job, {static_cast<int64_t>(rec.rows.size())});
  auto out = decode_call_reply(std::move(reply), setup_.limits, call_direction::forward, shape);
  auto problem = out ? caf::error{} : out.error();
  record_end(rec, !problem);
  if (i == forwards_.end())
    return;  // the job ended before this answer came
  auto& st = i->second;
  if (problem) {
    st.last_refusal = problem;
    if (code_of(problem) != errc::limit_exceeded) {
      note_refusal(rec, problem);
      return forward_failed(rec);
    }
    auto next = st.route.too_many_rows(rec, now(), servers_);
    if (!next.ask_limit)
      note_refusal(rec, problem);
    return carry_out(rec.job, std::move(next));
  }
  auto rows = index_tensor(rec.rows);
  auto slots = index_tensor(rec.slots);
  st.job->outputs.index_put_({rows, slots}, *out);
  st.job->mask.index_put_({rows, slots}, true);
  st.job->timing.decode_ms += ms_since(started);
  st.route.answered(rec);
  st.job->answered.push_back(rec);
  forward_progress(rec.job);
}

void router_state::forward_failed(const call_record& rec) {
  auto i = forwards_.find(rec.job);
  if (i != forwards_.end())
    carry_out(rec.job, i->second.route.failed(rec, now(), servers_));
}

void router_state::forward_progress(uint64_t id) {
  auto i = forwards_.find(id);
  if (i != forwards_.end() && advance(i->second.route.next(), id))
    finish_forward(id);
}

void router_state::finish_forward(uint64_t id) {
  auto node = forwards_.extract(id);
  auto& st = node.mapped();
  const auto& opt = setup_.options;
  auto& job = *st.job;
  const auto& route = st.route;
  auto below = route.below_k_min();
  auto coords = job.coords.accessor<int64_t, 3>();
  for (size_t b = 0; b < route.samples(); ++b)
    for (size_t s = 0; s < opt.k_best; ++s)
      if (const auto* c = route.answered_expert(b, s))
        for (size_t d = 0; d < c->size(); ++d)
          coords[b][s][d] = (*c)[d];
  job.timing.calls = route.calls_sent();
  job.timing.rerouted = route.rerouted();
  job.timing.total_ms = ms_since(st.started);
  if (st.first_call != steady::time_point{})
    job.timing.wait_ms = ms_since(st.first_call);
  if (below > 0 && !opt.allow_zero_outputs) {
    auto msg = fmt::format("{} of {} samples got fewer than k_min={} expert answers after {:.0f} ms "
                           "({} calls, {} rerouted, {} dead servers)",
                           below, route.samples(), opt.k_min, job.timing.total_ms,
                           job.timing.calls, job.timing.rerouted, servers_.dead_servers().size());
    if (st.last_refusal)
      msg += "; the last refusal: " + describe(st.last_refusal);
    log_->warn("forward failed: {}", msg);
    st.promise.deliver(make_error(errc::unavailable, std::move(msg)));
    return;
  }
  job.samples_below_k_min = below;
  st.promise.deliver(caf::ok_atom::value);
}

}  // namespace dmoe::moe
