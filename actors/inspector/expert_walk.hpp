// Lists the experts declared in the DHT under grid names, the way routers find them (see
// messages/declaration.hpp): under key "ffn." each server declares the first coordinates it
// hosts, under "ffn.3." the next ones, with its endpoint and whether they complete an id. A
// 2-D grid of n x m cells costs 1 + n lookups; lookups and listed experts are bounded.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/inspector/inspector.hpp"

namespace dmoe::inspector {

struct inspector_state;
using inspector_stateful = inspector_actor::stateful_base<inspector_state>;

constexpr size_t max_walk_lookups = 1024;
constexpr size_t max_walk_in_flight = 8;
constexpr size_t max_grid_depth = 8;
constexpr size_t max_walk_experts = 65536;

struct walk_result {
  std::map<std::string, std::set<std::string>> experts;  // id -> server endpoints
  std::vector<std::string> problems;                      // failed lookups, bad entries
  size_t lookups = 0;
  bool truncated = false;  // max_walk_lookups, max_walk_experts or the caller's budget reached
};

/// Walks the declarations of every grid in `grids` through `dht` (a DHT node answering
/// dht_get_atom) and calls `done` once, from `self`'s context. Each lookup gets `timeout` and
/// takes one of `budget`'s (the caller's lookups per second); the walk stops when it is spent.
void walk_declared_experts(inspector_stateful* self, dht::lookup_actor dht,
                           std::vector<std::string> grids, caf::timespan timeout,
                           std::function<bool()> budget, std::function<void(walk_result)> done);

}  // namespace dmoe::inspector
