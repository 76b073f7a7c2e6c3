// Stand-in role actors for the inspector tests: each answers (stats_atom) with fixed stats of
// the real role's type; `silent_role` never answers (for timeouts).
#pragma once

#include <caf/all.hpp>

#include "actors/moe/router_stats.hpp"
#include "actors/server/server_stats.hpp"
#include "actors/trainer/trainer_metrics.hpp"
#include "messages/type_ids.hpp"

namespace dmoe::test {

/// A role that answers (stats_atom) with `Stats`.
template <class Stats>
using stats_role = caf::typed_actor<caf::replies_to<stats_atom>::with<Stats>>;

template <class Stats>
typename stats_role<Stats>::behavior_type stand_in(typename stats_role<Stats>::pointer,
                                                   Stats stats) {
  return {[stats](stats_atom) { return stats; }};
}

template <class Stats>
typename stats_role<Stats>::behavior_type silent_role(typename stats_role<Stats>::pointer self) {
  return {[self](stats_atom) -> caf::result<Stats> {
    return self->template make_response_promise<Stats>();  // never delivered
  }};
}

inline hosted_expert_stats server_expert(const std::string& id, int64_t requests, int64_t queue) {
  hosted_expert_stats x;
  x.id = id;
  x.type = "ffn";
  x.requests = requests;
  x.samples = requests * 32;
  x.batches = requests / 2;
  x.mean_batch = 64.0;
  x.max_merged_callers = 3;
  x.queue = queue;
  x.errors = 1;
  x.updates = requests / 2;
  return x;
}

/// A server on 127.0.0.1:6000 hosting ffn.1.1 and ffn.3.0.
inline server_stats sample_server_stats() {
  server_stats out;
  out.endpoint = "127.0.0.1:6000";
  out.experts = {server_expert("ffn.1.1", 7, 2), server_expert("ffn.3.0", 40, 0)};
  return out;
}

/// A router that called ffn.1.1 on this node's server and att.0.5 elsewhere.
inline moe::router_stats sample_router_stats() {
  moe::router_stats out;
  out.experts = {{"ffn.1.1", "127.0.0.1:6000", 12, 0, 3.5},
                 {"att.0.5", "127.0.0.1:7000", 9, 4, 21.25}};
  out.dead_servers = {"127.0.0.1:7001"};
  return out;
}

inline trainer_metrics sample_trainer_metrics() {
  trainer_metrics out;
  out.step = 1200;
  out.loss = 0.4321;
  out.train_accuracy = 0.8456;
  out.samples_per_s = 950.0;
  out.failed_steps = 3;
  out.epoch = 2;
  return out;
}

}  // namespace dmoe::test
