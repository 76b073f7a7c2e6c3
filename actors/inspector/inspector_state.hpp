// Private to actors/inspector: the inspector's state and what its command handlers share.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <spdlog/logger.h>

#include "actors/inspector/inspector.hpp"
#include "actors/inspector/settings_text.hpp"
#include "messages/type_ids.hpp"
#include "runtime/peer_rates.hpp"
#include "runtime/stats_fields.hpp"

namespace dmoe::inspector {

using words = std::vector<std::string>;
using text_promise = caf::typed_response_promise<std::string>;

/// Delivers a text or an error; returns void so handlers can `return reply(rp, ...)`.
template <class T>
void reply(text_promise& rp, T&& answer) {
  rp.deliver(std::forward<T>(answer));
}

struct inspector_state {
  static inline const char* name = "dmoe.inspector";
  inspector_setup setup;
  std::shared_ptr<spdlog::logger> log;
  peer_rates lookups;  // what peers have this inspector look up or store (setup's rate)
  std::string caller;  // who asked for the command being started (caller_identity)
};

using inspector_stateful = inspector_actor::stateful_base<inspector_state>;
/// Asks one role for its stats; `done(caf::expected<Stats>)` runs on the inspector.
template <class Stats, class Handle, class F>
void ask_role(inspector_stateful* self, const Handle& role, F done) {
  self->request(role, self->state.setup.request_timeout, stats_atom::value)
    .then([done](Stats& stats) mutable { done(caf::expected<Stats>{std::move(stats)}); },
          [done](caf::error& err) mutable { done(caf::expected<Stats>{std::move(err)}); });
}

/// A role's stats as the settings tree of their field names, or why there are none.
using stats_reply = caf::expected<dict>;

/// One role to ask, by name: `ask` calls its argument once with the role's stats.
struct role_query {
  std::string name;
  std::function<void(std::function<void(stats_reply)>)> ask;
};

template <class Stats, class Handle>
role_query query_of(inspector_stateful* self, std::string name, Handle role) {
  return {std::move(name), [self, role](std::function<void(stats_reply)> done) {
            ask_role<Stats>(self, role, [done](caf::expected<Stats> stats) {
              done(stats ? stats_reply{to_settings(*stats)} : stats_reply{stats.error()});
            });
          }};
}

using role_list = std::vector<role_query>;
using stats_replies = std::vector<std::pair<std::string, stats_reply>>;

/// Asks every role for its stats at once; `done` gets the replies in the order of `roles`.
void ask_stats(role_list roles, std::function<void(stats_replies)> done);

/// The error for a role that did not answer (timeouts say how long the inspector waited).
caf::error role_failed(const inspector_setup& s, const std::string& role, const caf::error& err);

caf::error missing_role(const std::string& role);

/// Seconds since the epoch, by the setup's clock.
double now_of(const inspector_setup& s);

/// Takes one DHT lookup or store of the current command's caller: true when it has one left.
using lookup_budget = std::function<bool()>;
lookup_budget caller_lookups(inspector_stateful* self);

/// Why a caller's lookup was not made.
caf::error over_lookup_rate(const inspector_setup& s);

// The commands (see inspector.hpp); `args` are the words after the command's name.
void nodes_cmd(inspector_stateful* self, const words& args, text_promise rp);
void experts_cmd(inspector_stateful* self, const words& args, text_promise rp);
void dht_get_cmd(inspector_stateful* self, const words& args, text_promise rp);
void dht_store_cmd(inspector_stateful* self, const words& args, text_promise rp);
void stats_cmd(inspector_stateful* self, const words& args, text_promise rp);
void trainers_cmd(inspector_stateful* self, const words& args, text_promise rp);

}  // namespace dmoe::inspector
