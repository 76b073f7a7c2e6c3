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
};

using inspector_stateful = inspector_actor::stateful_base<inspector_state>;
using stats_reply = caf::expected<dict>;
using role_list = std::vector<std::pair<std::string, stats_actor>>;
using stats_replies = std::vector<std::pair<std::string, stats_reply>>;

/// Asks every role for its stats at once; `done` gets the replies in the order of `roles`.
void ask_stats(inspector_stateful* self, role_list roles, std::function<void(stats_replies)> done);

/// The error for a role that did not answer (timeouts say how long the inspector waited).
caf::error role_failed(const inspector_setup& s, const std::string& role, const caf::error& err);

caf::error missing_role(const std::string& role);

/// Seconds since the epoch, by the setup's clock.
double now_of(const inspector_setup& s);

// The commands (see inspector.hpp); `args` are the words after the command's name.
void nodes_cmd(inspector_stateful* self, const words& args, text_promise rp);
void experts_cmd(inspector_stateful* self, const words& args, text_promise rp);
void dht_get_cmd(inspector_stateful* self, const words& args, text_promise rp);
void dht_store_cmd(inspector_stateful* self, const words& args, text_promise rp);
void stats_cmd(inspector_stateful* self, const words& args, text_promise rp);
void trainers_cmd(inspector_stateful* self, const words& args, text_promise rp);

}  // namespace dmoe::inspector
