// Forward jobs: beam search over the DHT, one call per chosen expert, rerouting to spares,
// k_min / timeout_after_k_min / forward_timeout.
#include <unordered_set>

#include <fmt/core.h>

#include "actors/moe/call_reply.hpp"
#include "actors/moe/router_state.hpp"
#include "messages/errors.hpp"
#include "messages/expert_id.hpp"
#include "runtime/expert_codec.hpp"
#include "runtime/tensor_codec.hpp"

namespace dmoe::moe {

namespace {

double ms_since(steady::time_point t) {
  return std::chrono::duration<double, std::milli>(steady::now() - t).count();
}

torch::Tensor index_tensor(const std::vector<int64_t>& xs) {
  return torch::tensor(xs, torch::kInt64);
}

caf::error check_forward_job(const forward_job& job, const moe_options& opt) {
  if (opt.grid.empty() || opt.k_best == 0 || opt.k_min > opt.k_best)
    return make_error(errc::invalid_argument, "moe options need a grid, k_best > 0, k_min <= k_best");
  if (!job.inputs.defined() || job.inputs.dim() != 2 || job.inputs.size(0) == 0
      || job.inputs.scalar_type() != torch::kFloat32)
    return make_error(errc::shape_mismatch, "moe inputs must be a non-empty [batch, features] float32 tensor");
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

void router_state::start_forward(forward_job_ptr job, job_promise promise) {
  if (!job)
    return promise.deliver(make_error(errc::invalid_argument, "empty moe job")), void();
  if (auto err = check_forward_job(*job, setup_.options))
    return promise.deliver(std::move(err)), void();
  cache_->evict_stale(now());
  const auto& opt = setup_.options;
  auto batch = job->inputs.size(0);
  auto k = static_cast<int64_t>(opt.k_best);
  auto wanted = opt.k_best + std::max(min_spares_per_sample, opt.k_best);
  auto id = next_id_++;
  auto& st = forwards_[id];
  st.prefix = job->expert_prefix.empty() ? opt.expert_prefix : job->expert_prefix;
  st.started = steady::now();
  st.deadline = st.started + opt.forward_timeout;
  job->inputs = job->inputs.contiguous();
  job->outputs = torch::zeros({batch, k, job->hidden}, torch::kFloat32);
  job->mask = torch::zeros({batch, k}, torch::kBool);
  job->coords = torch::full({batch, k, static_cast<int64_t>(opt.grid.size())}, -1, torch::kInt64);
  job->answered.clear();
  std::vector<torch::Tensor> scores;
  for (const auto& s : job->scores)
    scores.push_back(s.detach().contiguous());
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<std::vector<float>> dims;
    for (const auto& s : scores) {
      const float* row = s.data_ptr<float>() + b * s.size(1);
      dims.emplace_back(row, row + s.size(1));
    }
    st.beams.emplace_back(std::move(dims), wanted);
  }
  st.samples.resize(static_cast<size_t>(batch));
  st.progress = quorum(st.samples.size(), opt.k_min, !opt.allow_zero_outputs);
  for (auto& s : st.samples) {
    s.slot_expert.assign(opt.k_best, -1);
    s.slot_answered.assign(opt.k_best, false);
  }
  st.job = std::move(job);
  st.promise = std::move(promise);
  self_->delayed_send(self_, opt.forward_timeout, moe_deadline_atom::value, id);
  route_level(id);
}

void router_state::route_level(uint64_t id) {
  auto& st = forwards_.at(id);
  const auto& name = st.prefix;
  std::vector<std::string> keys;
  std::unordered_set<std::string> seen;
  auto want = [&](std::string key) {
    if (seen.insert(key).second)
      keys.push_back(std::move(key));
  };
  if (st.beams.front().done()) {
    for (const auto& beam : st.beams)
      for (const auto& e : beam.ranked())
        want(expert_id_of(name, e.coords));
    return fetch(st, id, keys, [this, id] { choose_replicas(id); });
  }
  for (const auto& beam : st.beams)
    for (const auto& prefix : beam.beam())
      want(prefix_key(name, prefix.coords));
  fetch(st, id, keys, [this, id, name] {
    auto& st = forwards_.at(id);
    auto t = now();
    std::unordered_map<std::string, std::vector<int64_t>> children;
    auto live = [&](const grid_coords& prefix) -> const std::vector<int64_t>* {
      auto key = prefix_key(name, prefix);
      auto i = children.find(key);
      if (i != children.end())
        return &i->second;
      std::vector<dht::item> unexpired;
      for (const auto& x : st.lookups[key])
        if (x.expiration > t)
          unexpired.push_back(x);
      return &children.emplace(key, child_coordinates(unexpired)).first->second;
    };
    for (auto& beam : st.beams)
      beam.expand(live);
    route_level(id);
  });
}

std::string router_state::replica_for(forward_state& st, const std::string& expert_id) {
  auto t = now();
  std::vector<dht::item> live;
  for (const auto& x : st.lookups[expert_id]) {
    if (x.expiration <= t || x.value.empty())
      continue;
    if (servers_.saw_declaration(x.value, x.expiration))
      probe(x.value);
    live.push_back(x);
  }
  return servers_.pick(live, t);
}

void router_state::choose_replicas(uint64_t id) {
  auto& st = forwards_.at(id);
  const auto& name = st.prefix;
  auto k = setup_.options.k_best;
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<int64_t>>> groups;
  for (size_t b = 0; b < st.samples.size(); ++b) {
    auto& sample = st.samples[b];
    for (auto& e : st.beams[b].ranked())
      if (!replica_for(st, expert_id_of(name, e.coords)).empty())
        sample.ranked.push_back(std::move(e));
    auto used = std::min(k, sample.ranked.size());
    for (size_t s = 0; s < used; ++s) {
      sample.slot_expert[s] = static_cast<int64_t>(s);
      auto& g = groups[expert_id_of(name, sample.ranked[s].coords)];
      g.first.push_back(static_cast<int64_t>(b));
      g.second.push_back(static_cast<int64_t>(s));
    }
    sample.next_spare = used;
  }
  st.beams.clear();
  st.job->timing.routing_ms = ms_since(st.started);
  st.first_call = steady::now();
  for (auto& [expert_id, g] : groups)
    send_forward(id, expert_id, std::move(g.first), std::move(g.second));
  forward_progress(id);
}

void router_state::send_forward(uint64_t id, const std::string& expert_id,
                                std::vector<int64_t> rows, std::vector<int64_t> slots) {
  auto& st = forwards_.at(id);
  auto server = replica_for(st, expert_id);
  if (server.empty())
    return reroute(id, rows, slots);
  auto limit = static_cast<size_t>(servers_.batch_limit(server));
  if (limit == 0 || rows.size() <= limit)
    return send_forward_call(id, expert_id, server, std::move(rows), std::move(slots));
  for (size_t begin = 0; begin < rows.size(); begin += limit) {
    auto end = std::min(rows.size(), begin + limit);
    send_forward_call(id, expert_id, server, {rows.begin() + begin, rows.begin() + end},
                      {slots.begin() + begin, slots.begin() + end});
  }
}

void router_state::send_forward_call(uint64_t id, const std::string& expert_id,
                                     const std::string& server, std::vector<int64_t> rows,
                                     std::vector<int64_t> slots) {
  auto& st = forwards_.at(id);
  auto call_id = next_id_++;
  st.progress.sent(rows);
  ++st.job->timing.calls;
  auto started = steady::now();
  auto inputs = st.job->inputs.index_select(0, index_tensor(rows));
  auto request = encode(expert_call{forward_call{expert_id, {inputs}}},
                        wire_compression(setup_.options.compression));
  st.job->timing.encode_ms += ms_since(started);
  calls_.emplace(call_id, call_record{id, false, false, expert_id, server, std::move(rows),
                                      std::move(slots), steady::now()});
  call(call_id, std::move(request), remaining(st.deadline));
}

void router_state::ask_batch_limit(const call_record& rec) {
  auto& st = forwards_.at(rec.job);
  auto call_id = next_id_++;
  auto info = rec;
  info.info = true;
  info.sent = steady::now();
  calls_.emplace(call_id, std::move(info));  // the rows stay pending until it answers
  call(call_id, encode(expert_call{info_call{rec.expert_id}}), remaining(st.deadline));
}

void router_state::batch_limit_reply(const call_record& rec, payload& reply) {
  servers_.call_finished(rec.server, -1.0);  // no latency sample: it computed nothing
  auto decoded = decode_expert_reply(std::move(reply), setup_.limits);
  auto* info = decoded ? std::get_if<expert_info>(&*decoded) : nullptr;
  auto limit = info != nullptr ? info->max_batch_size : 0;
  if (limit == 0 || limit >= rec.rows.size()) {
    log_->warn("expert {} at {} refused {} rows as too many but says it takes {}", rec.expert_id,
               rec.server, rec.rows.size(), limit);
    return forward_failed(rec);
  }
  if (servers_.batch_limit(rec.server) != limit)
    log_->info("server {} takes at most {} rows per call; splitting calls to it", rec.server,
               limit);
  servers_.set_batch_limit(rec.server, limit);
  if (!release_call(rec))
    return;
  send_forward(rec.job, rec.expert_id, rec.rows, rec.slots);
  forward_progress(rec.job);
}

void router_state::reroute(uint64_t id, const std::vector<int64_t>& rows,
                           const std::vector<int64_t>& slots) {
  auto& st = forwards_.at(id);
  const auto& name = st.prefix;
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<int64_t>>> groups;
  for (size_t i = 0; i < rows.size(); ++i) {
    auto& sample = st.samples[static_cast<size_t>(rows[i])];
    auto slot = static_cast<size_t>(slots[i]);
    sample.slot_expert[slot] = -1;
    while (sample.next_spare < sample.ranked.size()) {
      auto candidate = sample.next_spare++;
      auto expert_id = expert_id_of(name, sample.ranked[candidate].coords);
      if (replica_for(st, expert_id).empty())
        continue;
      sample.slot_expert[slot] = static_cast<int64_t>(candidate);
      auto& g = groups[expert_id];
      g.first.push_back(rows[i]);
      g.second.push_back(slots[i]);
      ++st.job->timing.rerouted;
      break;
    }
  }
  for (auto& [expert_id, g] : groups)
    send_forward(id, expert_id, std::move(g.first), std::move(g.second));
}

void router_state::forward_reply(const call_record& rec, payload& reply) {
  auto i = forwards_.find(rec.job);
  auto started = steady::now();
  auto hidden = i == forwards_.end() ? int64_t{-1} : i->second.job->hidden;
  auto out = decode_call_reply(std::move(reply), setup_.limits, call_direction::forward,
                               static_cast<int64_t>(rec.rows.size()), hidden);
  auto problem = out ? caf::error{} : out.error();
  record_end(rec, !problem);
  if (i == forwards_.end())
    return;  // the job ended before this answer came
  if (problem) {
    if (code_of(problem) == errc::limit_exceeded && rec.rows.size() > 1
        && servers_.batch_limit(rec.server) == 0)
      return ask_batch_limit(rec);
    note_refusal(rec, problem);
    return forward_failed(rec);
  }
  auto& st = i->second;
  auto rows = index_tensor(rec.rows);
  auto slots = index_tensor(rec.slots);
  st.job->outputs.index_put_({rows, slots}, *out);
  st.job->mask.index_put_({rows, slots}, true);
  st.job->timing.decode_ms += ms_since(started);
  for (size_t r = 0; r < rec.rows.size(); ++r)
    st.samples[static_cast<size_t>(rec.rows[r])].slot_answered[static_cast<size_t>(rec.slots[r])] =
      true;
  st.progress.answered(rec.rows);
  st.job->answered.push_back(answered_call{rec.expert_id, rec.server, rec.rows, rec.slots});
  forward_progress(rec.job);
}

bool router_state::release_call(const call_record& rec) {
  auto i = forwards_.find(rec.job);
  if (i == forwards_.end())
    return false;
  i->second.progress.failed(rec.rows);
  return true;
}

void router_state::forward_failed(const call_record& rec) {
  if (!release_call(rec))
    return;
  reroute(rec.job, rec.rows, rec.slots);
  forward_progress(rec.job);
}

void router_state::forward_progress(uint64_t id) {
  auto i = forwards_.find(id);
  if (i != forwards_.end() && advance(i->second.progress, id))
    finish_forward(id);
}

void router_state::finish_forward(uint64_t id) {
  auto node = forwards_.extract(id);
  auto& st = node.mapped();
  const auto& opt = setup_.options;
  auto& job = *st.job;
  auto below = st.progress.below_k_min();
  auto coords = job.coords.accessor<int64_t, 3>();
  for (size_t b = 0; b < st.samples.size(); ++b) {
    const auto& sample = st.samples[b];
    for (size_t s = 0; s < opt.k_best; ++s) {
      if (!sample.slot_answered[s])
        continue;
      const auto& c = sample.ranked[static_cast<size_t>(sample.slot_expert[s])].coords;
      for (size_t d = 0; d < c.size(); ++d)
        coords[b][s][d] = c[d];
    }
  }
  job.timing.total_ms = ms_since(st.started);
  if (st.first_call != steady::time_point{})
    job.timing.wait_ms = ms_since(st.first_call);
  if (below > 0 && !opt.allow_zero_outputs) {
    auto msg = fmt::format("{} of {} samples got fewer than k_min={} expert answers after {:.0f} ms "
                           "({} calls, {} rerouted, {} dead servers)",
                           below, st.samples.size(), opt.k_min, job.timing.total_ms,
                           job.timing.calls, job.timing.rerouted, servers_.dead_servers().size());
    log_->warn("forward failed: {}", msg);
    st.promise.deliver(make_error(errc::unavailable, std::move(msg)));
    return;
  }
  job.samples_below_k_min = below;
  st.promise.deliver(caf::ok_atom::value);
}

}  // namespace dmoe::moe
