// The averager actor's state and the functions its parts share (averager.hpp has the protocol):
// the leader's matchmaking and decision (averager_leader.cpp), the reduction of parts
// (averager_reducer.cpp), rounds, timers and requests (averager.cpp). Internal to the actor.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <caf/typed_event_based_actor.hpp>
#include <spdlog/logger.h>

#include "actors/averager/averager.hpp"
#include "messages/errors.hpp"

namespace dmoe::averaging {

using rpc_promise = caf::typed_response_promise<payload>;

/// States kept for downloads: one started at an outer step finishes after the next two.
constexpr size_t kept_states = 3;

enum phase : uint32_t {
  contributions_due = 1,  // reducers report what they have
  decision_due = 2,       // the leader decides with the reports it has
  round_over = 3,         // the round's state is dropped
  orphans_due = 4,        // the leader's orphan parts fail unless complete
};

/// One part this node reduces: every sender's contribution, then their average.
struct reduced_part {
  uint64_t size = 0;
  std::set<uint32_t> expected;
  std::map<uint32_t, std::vector<float>> values;
  std::map<uint32_t, std::set<uint64_t>> pieces;  // offsets received, per sender
  std::map<uint32_t, uint64_t> received;          // elements received, per sender
  std::set<uint32_t> refused;                     // a bad piece voids a sender's contribution
  bool orphan = false;
  bool reported = false;
  std::optional<std::vector<float>> average;
  caf::error failure;
  std::vector<std::pair<avg::fetch, rpc_promise>> waiting;

  bool complete(uint32_t sender) const {
    auto i = received.find(sender);
    return i != received.end() && i->second == size && !refused.count(sender);
  }
  std::vector<uint32_t> complete_senders() const {
    std::vector<uint32_t> out;
    for (auto s : expected)
      if (complete(s))
        out.push_back(s);
    return out;
  }
  bool all_in() const {
    return complete_senders().size() == expected.size();
  }
};

struct round_state {
  group_ptr g;
  uint32_t self = 0;
  bool leader = false;
  caf::actor leader_handle;  // a follower's way to the leader
  std::map<uint32_t, reduced_part> parts;
  // The leader's:
  std::map<uint32_t, std::vector<uint32_t>> reports;
  std::vector<rpc_promise> waiting;
  std::optional<avg::decision> decided;
  caf::error abandoned;
};

struct candidate_state {
  avg::member self;
  bool open = true;
  std::vector<std::pair<avg::member, rpc_promise>> joins;
  std::optional<caf::typed_response_promise<group_ptr>> form;
  uint32_t wanted = 0;
  bool last = false;     // the pending form is the matchmaking's last: it forms when it ends
  uint64_t serial = 0;   // of the pending form, so an earlier form's timer is ignored
};

struct averager_state {
  averager_setup setup;
  std::shared_ptr<spdlog::logger> log;
  std::optional<candidate_state> candidate;
  std::map<uint64_t, round_state> rounds;
  std::deque<state_ptr> served;  // the newest first; a few kept for downloads under way
  std::mt19937_64 rng{std::random_device{}()};
};

using averager_stateful = averager_actor::stateful_base<averager_state>;

inline payload refusal(errc code, std::string why) {
  return avg::encode_reply(make_error(code, std::move(why)));
}

inline payload answer(avg::reply r) {
  return avg::encode_reply(std::move(r));
}

inline bool local_sender(averager_stateful* self) {
  auto sender = self->current_sender();
  return sender && sender->node() == self->node();
}

inline caf::error not_local() {
  return make_error(errc::forbidden, "only this node's trainer may ask this");
}

inline std::string short_id(const std::string& id) {
  return id.substr(0, 8);
}

// ---- the leader (averager_leader.cpp) ----

/// Refuses every join the candidacy holds.
void refuse_joins(candidate_state& c, errc code, const std::string& why);
/// A member asks to join the round this node leads.
caf::result<payload> join(averager_stateful* self, avg::member m);
/// Forms the group of the pending matchmaking with the joins held so far.
void form_now(averager_stateful* self);
/// Decides the round's survivors and orphaned parts from the reports so far.
void decide(averager_stateful* self, round_state& r);
/// A reducer's report of who contributed its part.
void record_report(averager_stateful* self, round_state& r, uint32_t part,
                   std::vector<uint32_t> senders);
/// A report or a question for the outcome, answered with the decision once made.
caf::result<payload> leader_request(averager_stateful* self, uint64_t id,
                                    std::optional<avg::report> rep);

// ---- the reducer (averager_reducer.cpp) ----

caf::result<payload> contribute(averager_stateful* self, uint64_t id, avg::contribute c);
caf::result<payload> fetch(averager_stateful* self, uint64_t id, avg::fetch f);
/// Reports a part's senders to the leader (once).
void report(averager_stateful* self, round_state& r, uint32_t index, reduced_part& part);
/// Averages every part among the decision's survivors; the leader takes the orphans.
void apply_decision(averager_stateful* self, round_state& r, const avg::decision& d);
/// Every part without an average fails with `why`.
void fail_parts(round_state& r, const caf::error& why);

// ---- rounds (averager.cpp) ----

void start_round(averager_stateful* self, group_ptr g, uint32_t own_index, bool leader,
                 caf::actor leader_handle);

}  // namespace dmoe::averaging
