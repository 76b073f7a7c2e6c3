#include <chrono>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "actors/dht/node.hpp"
#include "actors/inspector/inspector_state.hpp"
#include "messages/type_ids.hpp"

namespace dmoe::inspector {

void ask_stats(role_list roles, std::function<void(stats_replies)> done) {
  struct gathering {
    stats_replies replies;
    size_t missing = 0;
    std::function<void(stats_replies)> done;
    void one_done() {
      if (--missing == 0)
        done(std::move(replies));
    }
  };
  auto g = std::make_shared<gathering>();
  g->missing = roles.size();
  g->done = std::move(done);
  for (auto& role : roles)
    g->replies.emplace_back(role.name, make_error(errc::internal, "no reply"));
  if (roles.empty())
    return g->done({});
  for (size_t i = 0; i < roles.size(); ++i)
    roles[i].ask([g, i](stats_reply stats) {
      g->replies[i].second = std::move(stats);
      g->one_done();
    });
}

caf::error role_failed(const inspector_setup& s, const std::string& role, const caf::error& err) {
  if (code_of(err) == errc::timeout)
    return make_error(errc::timeout,
                      fmt::format("the {} did not answer within {} ms", role,
                                  std::chrono::duration_cast<std::chrono::milliseconds>(
                                    s.request_timeout)
                                    .count()));
  return make_error(code_of(err), "the " + role + " failed: " + describe(err));
}

caf::error missing_role(const std::string& role) {
  return make_error(errc::unavailable, "this node runs no " + role);
}

double now_of(const inspector_setup& s) {
  return s.clock ? s.clock() : dht::wall_clock();
}

lookup_budget caller_lookups(inspector_stateful* self) {
  return [self, who = self->state.caller] {
    return who.empty() || self->state.lookups.take(who, now_of(self->state.setup));
  };
}

caf::error over_lookup_rate(const inspector_setup& s) {
  return make_error(errc::overloaded, fmt::format("more than {:g} DHT lookups and stores per "
                                                  "second for this peer (dht.peer-access-rate)",
                                                  s.peer_lookup_rate));
}

}  // namespace dmoe::inspector
