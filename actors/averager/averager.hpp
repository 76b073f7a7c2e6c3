// The averager: a trainer node's side of averaging the shared parameters (DiLoCo outer steps),
// serving what other members of a round ask of this node. The member side, which runs a round
// from the trainer's thread, is member.hpp.
//
// A round, in the order things happen (every request below is an AverageRequest of
// schema/average.capnp in an (average_rpc_atom, payload) message through the gateway):
//   1. Matchmaking: members ready for outer step S declare under the DHT key
//      "avg.<run>.round.<S>"; the smallest id among them leads. This node is a candidate from
//      (avg_candidate_atom) on: it holds the joins of members at the same outer step and
//      fingerprint (others are refused: `expired`, out of sync, or `not_found`, not leading)
//      until its member thread either yields (avg_yield_atom: a smaller id leads; the held
//      joins are refused and the members look again) or forms the group (avg_form_atom, once
//      `wanted` members are in or at the matchmaking's end; fewer than min_group: refused, the
//      round is abandoned). The group (members sorted by id, the parts of the flattened vector and the
//      reachable member reducing each) answers every join.
//   2. Contributions: every member sends each part of its weighted pseudo-gradient, in pieces,
//      to that part's reducer (contribute -> ack). Pieces of the wrong size, encoding, range
//      or with non-finite values are refused; that member's contribution to the part is void.
//   3. Reports: a reducer whose part has every member's contribution (or at round_timeout)
//      reports the senders it has to the leader (report -> decision, answered once decided).
//   4. Decision: once every reducer reported (or at 1.5 x round_timeout) the leader decides:
//      the survivors are the members every reporting reducer has; parts whose reducer never
//      reported are orphans, which the leader reduces itself from the survivors' contributions
//      sent again. Members ask for it (outcome -> decision); one not among the survivors, or
//      any member when fewer than two survive (or the leader is not among them), abandons the
//      round.
//   5. Averages: each reducer averages its part over the survivors, weighted by their samples,
//      encodes it once and serves it (fetch -> piece, answered once averaged): every member
//      decodes the same bytes, so all end with the same average, bit for bit.
//   A round's state is dropped 4 x round_timeout after it began; a member that does not get
//   every part within its own bounds abandons the round and keeps its local parameters.
//
// Its whole protocol:
//   From peers (through the gateway) and its own member thread:
//     (average_rpc_atom, payload: AverageRequest) -> payload: AverageReply
//       join, contribute, report, outcome, fetch (above) and state: a piece of the shared
//       parameters and outer momentum this trainer last published (a joining trainer's
//       download); an error reply for anything refused; the averager keeps serving.
//   From its member thread and trainer (local only; from another node: `forbidden`):
//     (avg_candidate_atom, candidacy)                 -> bool
//     (avg_yield_atom)                                -> bool
//     (avg_form_atom, uint32 wanted, timespan wait, bool last) -> group_ptr
//       forms the group once `wanted` members are in; when `wait` ends first, a `last` call
//       forms it with those in (fewer than min_group: an error, the round is abandoned) and
//       another answers `timeout` and keeps the candidacy open (the member looks again).
//     (avg_begin_atom, group_ptr, uint32 self, caf::actor leader) -> bool
//       a follower's group: this node reduces its parts from now on.
//     (avg_state_atom, state_ptr)                     -> bool   the state served from now on
//   Timers to itself: (avg_timer_atom, group id, phase), (avg_gather_atom, form serial) and
//     (avg_declare_atom): once it serves a state, it declares the member (its outer step and
//     fingerprint) under members_key(run) every member_declare_period, owned by its DHT node.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/typed_actor.hpp>

#include "actors/dht/node.hpp"
#include "actors/gateway/gateway.hpp"
#include "messages/average_codec.hpp"
#include "messages/type_ids.hpp"
#include "runtime/options.hpp"

namespace dmoe {

/// A round's group, shared read-only between the averager and its member thread.
using group_ptr = std::shared_ptr<const avg::group>;

/// This node offering to lead the round of its outer step.
struct candidacy {
  avg::member self;
};

/// What a joining trainer downloads: the shared parameters and outer momentum after an outer
/// step.
struct averaging_state {
  avg::state_header header;
  std::vector<float> values;  // parameters, then as many momentum values
};
using state_ptr = std::shared_ptr<const averaging_state>;

}  // namespace dmoe

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dmoe::group_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dmoe::candidacy)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dmoe::state_ptr)

namespace dmoe {

using avg_candidate_atom = caf::atom_constant<caf::atom("avg_cand")>;
using avg_yield_atom = caf::atom_constant<caf::atom("avg_yield")>;
using avg_form_atom = caf::atom_constant<caf::atom("avg_form")>;
using avg_begin_atom = caf::atom_constant<caf::atom("avg_begin")>;
using avg_state_atom = caf::atom_constant<caf::atom("avg_state")>;
using avg_timer_atom = caf::atom_constant<caf::atom("avg_timer")>;
using avg_gather_atom = caf::atom_constant<caf::atom("avg_gather")>;
using avg_declare_atom = caf::atom_constant<caf::atom("avg_decl")>;

/// The averager's protocol (above).
using averager_actor = caf::typed_actor<
  caf::replies_to<average_rpc_atom, payload>::with<payload>,
  caf::replies_to<avg_candidate_atom, candidacy>::with<bool>,
  caf::replies_to<avg_yield_atom>::with<bool>,
  caf::replies_to<avg_form_atom, uint32_t, caf::timespan, bool>::with<group_ptr>,
  caf::replies_to<avg_begin_atom, group_ptr, uint32_t, caf::actor>::with<bool>,
  caf::replies_to<avg_state_atom, state_ptr>::with<bool>,
  caf::reacts_to<avg_timer_atom, uint64_t, uint32_t>,
  caf::reacts_to<avg_gather_atom, uint64_t>,
  caf::reacts_to<avg_declare_atom>>;

/// DHT keys of a run: its members (each declares its outer step and fingerprint every
/// member_declare_period, expiring after member_ttl) and the members ready for an outer step.
std::string members_key(const std::string& run);
std::string round_key(const std::string& run, uint64_t outer_step);
constexpr auto member_declare_period = std::chrono::seconds(10);
constexpr auto member_ttl = std::chrono::seconds(30);

/// A member's DHT value (a Member in an AverageRequest join) and back.
std::string encode_member(const std::string& run, const avg::member& m);
caf::expected<avg::member> decode_member(const std::string& run, const std::string& value,
                                         const wire_limits& limits);

struct averager_setup {
  std::string name = "averager";  // logger name
  averaging_options options;
  wire_limits limits;
  dht::node_actor dht;            // where it declares membership; null: it does not
  std::string id;                 // this member's id (random hex, member.hpp: new_member_id)
  std::string endpoint;           // this node's; empty in client mode
};

averager_actor spawn_averager(caf::actor_system& system, averager_setup setup);

}  // namespace dmoe
