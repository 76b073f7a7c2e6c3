#include "actors/moe/routing.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_set>

#include "actors/moe/dht_cache.hpp"
#include "messages/expert_id.hpp"

namespace dmoe::moe {

forward_route::forward_route(std::string grid,
                             std::vector<std::vector<std::vector<float>>> sample_scores,
                             route_rules rules)
  : grid_(std::move(grid)),
    rules_(rules),
    progress_(sample_scores.size(), rules.k_min, rules.shortfall_ends_job) {
  for (auto& dims : sample_scores)
    beams_.emplace_back(std::move(dims), rules.k_best + rules.spares);
  samples_.resize(beams_.size());
  for (auto& s : samples_) {
    s.slot_expert.assign(rules.k_best, -1);
    s.slot_answered.assign(rules.k_best, false);
  }
}

route_actions forward_route::start() {
  return next_search_round();
}

void forward_route::found(const std::string& key, std::vector<declared> items) {
  lookups_[key] = std::move(items);
}

route_actions forward_route::lookups_done(double now, server_book& servers) {
  switch (phase_) {
    case phase::searching: {
      expand_beams(now);
      auto next = next_search_round();
      // The last round's declarations name the replicas: the calls follow at once.
      return phase_ == phase::choosing ? choose_calls(now, servers) : next;
    }
    case phase::choosing:
      return choose_calls(now, servers);
    case phase::calling:
      break;
  }
  return {};
}

route_actions forward_route::next_search_round() {
  route_actions out;
  std::unordered_set<std::string> seen;
  auto want = [&](std::string key) {
    if (lookups_.count(key) == 0 && seen.insert(key).second)
      out.lookups.push_back(std::move(key));
  };
  if (beams_.empty() || beams_.front().done()) {  // every sample's search is at the same depth
    phase_ = phase::choosing;  // the last round's declarations name the replicas: no lookup
    return out;
  }
  std::set<grid_coords> prefixes;  // samples share most prefixes: each key built once
  for (const auto& beam : beams_)
    for (const auto& prefix : beam.beam())
      if (prefixes.insert(prefix.coords).second)
        want(prefix_key(grid_, prefix.coords));
  return out;
}

void forward_route::expand_beams(double now) {
  std::map<grid_coords, std::vector<int64_t>> children;  // per prefix, shared by the samples
  auto live = [&](const grid_coords& prefix) -> const std::vector<int64_t>* {
    if (auto i = children.find(prefix); i != children.end())
      return &i->second;
    std::vector<int64_t> live_children;
    if (auto i = lookups_.find(prefix_key(grid_, prefix)); i != lookups_.end())
      live_children = child_coordinates(i->second, now);
    return &children.emplace(prefix, std::move(live_children)).first->second;
  };
  for (auto& beam : beams_)
    beam.expand(live);
}

route_actions forward_route::choose_calls(double now, server_book& servers) {
  route_actions out;
  rows_by_expert groups;
  for (size_t b = 0; b < samples_.size(); ++b) {
    auto& sample = samples_[b];
    for (auto& e : beams_[b].ranked())
      if (!replica_for(expert_id_of(grid_, e.coords), now, servers, out).empty())
        sample.ranked.push_back(std::move(e));
    auto used = std::min(rules_.k_best, sample.ranked.size());
    for (size_t s = 0; s < used; ++s) {
      sample.slot_expert[s] = static_cast<int64_t>(s);
      auto& g = groups[expert_id_of(grid_, sample.ranked[s].coords)];
      g.rows.push_back(static_cast<int64_t>(b));
      g.slots.push_back(static_cast<int64_t>(s));
    }
    sample.next_spare = used;
  }
  beams_.clear();
  phase_ = phase::calling;
  send_each(std::move(groups), now, servers, out);
  return out;
}

std::string forward_route::replica_for(const std::string& expert_id, double now,
                                       server_book& servers, route_actions& out) const {
  auto coords = grid_coordinates(expert_id);
  auto last = coords.back();
  coords.pop_back();
  auto i = lookups_.find(prefix_key(grid_, coords));
  if (i == lookups_.end())
    return {};
  std::vector<std::string> live;
  for (const auto& x : i->second) {
    if (x.expiration <= now || !x.children.leaves || !x.children.contains(last))
      continue;
    if (servers.saw_declaration(x.children.endpoint, x.expiration))
      out.probes.push_back(x.children.endpoint);
    live.push_back(x.children.endpoint);
  }
  return servers.pick(live, now, expert_id);
}

void forward_route::send_each(rows_by_expert groups, double now, server_book& servers,
                              route_actions& out) {
  for (auto& [expert_id, g] : groups)
    send(expert_id, std::move(g.rows), std::move(g.slots), now, servers, out);
}

void forward_route::send(const std::string& expert_id, std::vector<int64_t> rows,
                         std::vector<int64_t> slots, double now, server_book& servers,
                         route_actions& out) {
  auto server = replica_for(expert_id, now, servers, out);
  if (server.empty())
    return reroute(rows, slots, now, servers, out);
  auto limit = static_cast<size_t>(servers.batch_limit(server));
  auto per_call = limit == 0 ? rows.size() : limit;
  for (size_t begin = 0; begin < rows.size(); begin += per_call) {
    auto end = std::min(rows.size(), begin + per_call);
    routed_call call{expert_id, server,
                     {rows.begin() + static_cast<ptrdiff_t>(begin),
                      rows.begin() + static_cast<ptrdiff_t>(end)},
                     {slots.begin() + static_cast<ptrdiff_t>(begin),
                      slots.begin() + static_cast<ptrdiff_t>(end)}};
    progress_.sent(call.rows);
    servers.call_started(server);  // the next pick, even in this round, sees it
    ++calls_sent_;
    out.calls.push_back(std::move(call));
  }
}

void forward_route::reroute(const std::vector<int64_t>& rows, const std::vector<int64_t>& slots,
                            double now, server_book& servers, route_actions& out) {
  rows_by_expert groups;
  for (size_t i = 0; i < rows.size(); ++i) {
    auto& sample = samples_.at(static_cast<size_t>(rows[i]));
    auto slot = static_cast<size_t>(slots[i]);
    sample.slot_expert.at(slot) = -1;
    while (sample.next_spare < sample.ranked.size()) {
      auto candidate = sample.next_spare++;
      auto expert_id = expert_id_of(grid_, sample.ranked[candidate].coords);
      if (replica_for(expert_id, now, servers, out).empty())
        continue;
      sample.slot_expert[slot] = static_cast<int64_t>(candidate);
      auto& g = groups[expert_id];
      g.rows.push_back(rows[i]);
      g.slots.push_back(slots[i]);
      ++rerouted_;
      break;
    }
  }
  send_each(std::move(groups), now, servers, out);
}

void forward_route::answered(const routed_call& call) {
  for (size_t r = 0; r < call.rows.size(); ++r)
    samples_.at(static_cast<size_t>(call.rows[r])).slot_answered.at(static_cast<size_t>(call.slots[r])) =
      true;
  progress_.answered(call.rows);
}

route_actions forward_route::failed(const routed_call& call, double now, server_book& servers) {
  route_actions out;
  progress_.failed(call.rows);
  reroute(call.rows, call.slots, now, servers, out);
  return out;
}

route_actions forward_route::too_many_rows(const routed_call& call, double now,
                                           server_book& servers) {
  if (call.rows.size() > 1 && servers.batch_limit(call.server) == 0) {
    route_actions out;
    servers.call_started(call.server);
    out.ask_limit = call;
    return out;
  }
  return failed(call, now, servers);
}

route_actions forward_route::resend(const routed_call& call, double now, server_book& servers) {
  route_actions out;
  progress_.failed(call.rows);
  send(call.expert_id, call.rows, call.slots, now, servers, out);
  return out;
}

const grid_coords* forward_route::answered_expert(size_t sample, size_t slot) const {
  const auto& s = samples_.at(sample);
  if (!s.slot_answered.at(slot))
    return nullptr;
  return &s.ranked.at(static_cast<size_t>(s.slot_expert.at(slot))).coords;
}

std::vector<routed_call> backward_calls(const std::vector<routed_call>& answered,
                                        server_book& servers) {
  std::vector<routed_call> out;
  for (const auto& call : answered) {
    if (servers.is_dead(call.server))
      continue;
    servers.call_started(call.server);
    out.push_back(call);
  }
  return out;
}

}  // namespace dmoe::moe
