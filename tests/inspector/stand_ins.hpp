// Stand-in role actors for the inspector tests: each answers (stats_atom) with fixed stats in
// the format the real role documents; `silent_role` never answers (for timeouts).
#pragma once

#include <caf/all.hpp>

#include "messages/type_ids.hpp"

namespace dmoe::test {

inline stats_actor::behavior_type stand_in(stats_actor::pointer, caf::settings stats) {
  return {[stats](stats_atom) { return stats; }};
}

inline stats_actor::behavior_type silent_role(stats_actor::pointer self) {
  return {[self](stats_atom) -> caf::result<caf::settings> {
    return self->make_response_promise<caf::settings>();  // never delivered
  }};
}

inline caf::config_value::dictionary server_expert(const std::string& id, int64_t requests,
                                                   int64_t queue) {
  caf::config_value::dictionary x;
  x["id"] = id;
  x["type"] = "ffn";
  x["requests"] = requests;
  x["samples"] = requests * 32;
  x["batches"] = requests / 2;
  x["mean_batch"] = 64.0;
  x["max_merged_callers"] = int64_t{3};
  x["queue"] = queue;
  x["errors"] = int64_t{1};
  x["updates"] = requests / 2;
  return x;
}

/// A server on 127.0.0.1:6000 hosting ffn.1.1 and ffn.3.0.
inline caf::settings server_stats() {
  caf::settings out;
  out["endpoint"] = "127.0.0.1:6000";
  caf::config_value::list experts;
  experts.emplace_back(server_expert("ffn.1.1", 7, 2));
  experts.emplace_back(server_expert("ffn.3.0", 40, 0));
  out["experts"] = std::move(experts);
  return out;
}

inline caf::config_value::dictionary router_expert(const std::string& id,
                                                   const std::string& server, int64_t calls,
                                                   int64_t failures, double latency_ms) {
  caf::config_value::dictionary x;
  x["id"] = id;
  x["server"] = server;
  x["calls"] = calls;
  x["failures"] = failures;
  x["latency_ms"] = latency_ms;
  return x;
}

/// A router that called ffn.1.1 on this node's server and att.0.5 elsewhere.
inline caf::settings router_stats() {
  caf::settings out;
  caf::config_value::list experts;
  experts.emplace_back(router_expert("ffn.1.1", "127.0.0.1:6000", 12, 0, 3.5));
  experts.emplace_back(router_expert("att.0.5", "127.0.0.1:7000", 9, 4, 21.25));
  out["experts"] = std::move(experts);
  caf::config_value::list dead;
  dead.emplace_back("127.0.0.1:7001");
  out["dead_servers"] = std::move(dead);
  return out;
}

inline caf::settings trainer_stats() {
  caf::settings out;
  out["step"] = int64_t{1200};
  out["loss"] = 0.4321;
  out["accuracy"] = 0.8456;
  out["samples_per_s"] = 950.0;
  out["failed_calls"] = int64_t{3};
  out["epoch"] = int64_t{2};
  return out;
}

}  // namespace dmoe::test
