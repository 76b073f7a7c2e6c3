#include "actors/averager/averager.hpp"

#include <algorithm>

#include "actors/guard/control_guard.hpp"
#include "actors/averager/averager_internal.hpp"
#include "runtime/logging.hpp"

namespace dmoe::averaging {

caf::result<payload> state_piece(averager_stateful* self, avg::state_fetch f) {
  auto& kept = self->state.served;
  if (kept.empty())
    return refusal(errc::not_found, "this trainer has no state to share yet");
  auto found = std::find_if(kept.begin(), kept.end(), [&](const state_ptr& s) {
    return !f.pinned || s->header.outer_step == f.outer_step;
  });
  if (found == kept.end())
    return refusal(errc::expired, "this trainer no longer keeps the state of outer step "
                                    + std::to_string(f.outer_step));
  const auto& served = *found;
  if (f.offset > served->values.size() || f.count > served->values.size() - f.offset)
    return refusal(errc::invalid_argument, "a state fetch beyond the state's "
                                             + std::to_string(served->values.size()) + " values");
  return answer(avg::state_reply{served->header,
                                 avg::encode_piece(served->values.data() + f.offset, f.count,
                                                   avg::encoding::float32, 0, f.offset)});
}

void start_round(averager_stateful* self, group_ptr g, uint32_t own_index, bool leader,
                 caf::actor leader_handle) {
  auto& st = self->state;
  round_state r;
  r.g = g;
  r.self = own_index;
  r.leader = leader;
  r.leader_handle = std::move(leader_handle);
  for (uint32_t p = 0; p < g->parts(); ++p) {
    if (g->reducers[p] != own_index)
      continue;
    auto& part = r.parts[p];
    part.size = g->part_size(p);
    for (uint32_t m = 0; m < g->members.size(); ++m)
      part.expected.insert(m);
  }
  st.rounds[g->id] = std::move(r);
  auto t = st.setup.options.round_timeout;
  self->delayed_send(self, t, avg_timer_atom::value, g->id, static_cast<uint32_t>(contributions_due));
  if (leader)
    self->delayed_send(self, t + t / 2, avg_timer_atom::value, g->id,
                       static_cast<uint32_t>(decision_due));
  self->delayed_send(self, 4 * t, avg_timer_atom::value, g->id, static_cast<uint32_t>(round_over));
}

void on_timer(averager_stateful* self, uint64_t id, uint32_t which) {
  auto& st = self->state;
  auto i = st.rounds.find(id);
  if (i == st.rounds.end())
    return;
  auto& r = i->second;
  switch (which) {
    case contributions_due:
      for (auto& [index, part] : r.parts)
        report(self, r, index, part);
      break;
    case decision_due:
      decide(self, r);
      break;
    case orphans_due:
      for (auto& [index, part] : r.parts)
        if (part.orphan && !part.average) {
          part.failure = make_error(errc::timeout, "part " + std::to_string(index)
                                                     + " was not sent again in time");
          for (auto& [f, rp] : part.waiting)
            rp.deliver(avg::encode_reply(part.failure));
          part.waiting.clear();
        }
      break;
    default: {
      auto why = make_error(errc::timeout, "the round is over");
      for (auto& rp : r.waiting)
        rp.deliver(avg::encode_reply(why));
      fail_parts(r, why);
      st.rounds.erase(i);
    }
  }
}

caf::result<payload> serve(averager_stateful* self, const payload& in) {
  auto& st = self->state;
  auto req = avg::decode_request(in, st.setup.limits);
  if (!req)
    return avg::encode_reply(req.error());
  if (req->run != st.setup.options.run)
    return refusal(errc::forbidden, "this trainer averages in run '" + st.setup.options.run
                                      + "', not '" + req->run + "'");
  auto id = req->group_id;
  return std::visit(
    [&](auto& body) -> caf::result<payload> {
      using T = std::decay_t<decltype(body)>;
      if constexpr (std::is_same_v<T, avg::member>)
        return join(self, std::move(body));
      else if constexpr (std::is_same_v<T, avg::contribute>)
        return contribute(self, id, std::move(body));
      else if constexpr (std::is_same_v<T, avg::report>)
        return leader_request(self, id, std::move(body));
      else if constexpr (std::is_same_v<T, avg::outcome>)
        return leader_request(self, id, std::nullopt);
      else if constexpr (std::is_same_v<T, avg::fetch>)
        return fetch(self, id, body);
      else
        return state_piece(self, body);
    },
    req->body);
}

void declare_member(averager_stateful* self) {
  auto& st = self->state;
  if (!st.setup.dht || st.served.empty())
    return;
  avg::member m;
  m.id = st.setup.id;
  m.endpoint = st.setup.endpoint;
  const auto& newest = *st.served.front();
  m.outer_step = newest.header.outer_step;
  m.fingerprint = newest.header.fingerprint;
  m.elements = newest.header.elements;
  auto expiration = dht::wall_clock() + std::chrono::duration<double>(member_ttl).count();
  self->request(st.setup.dht, member_declare_period, dht::dht_declare_atom::value,
                members_key(st.setup.options.run), std::string{"m"},
                encode_member(st.setup.options.run, m), expiration)
    .then([](uint32_t, uint32_t, uint32_t) {},
          [=](caf::error& err) {
            self->state.log->debug("could not declare membership: {}", describe(err));
          });
}

averager_actor::behavior_type averager(averager_stateful* self, averager_setup setup) {
  auto& st = self->state;
  st.log = log::get(setup.name);
  guard_control(self, st.log);
  st.setup = std::move(setup);
  return {
    [=](average_rpc_atom, const payload& in) -> caf::result<payload> {
      try {
        return serve(self, in);
      } catch (const std::exception& e) {
        return refusal(errc::internal, e.what());
      }
    },
    [=](avg_candidate_atom, candidacy& c) -> caf::result<bool> {
      if (!local_sender(self))
        return not_local();
      auto& st = self->state;
      if (st.candidate) {
        refuse_joins(*st.candidate, errc::not_found, "that round's matchmaking is over");
        if (st.candidate->form)
          st.candidate->form->deliver(make_error(errc::unavailable, "a new candidacy began"));
      }
      st.candidate.emplace();
      st.candidate->self = std::move(c.self);
      return true;
    },
    [=](avg_yield_atom) -> caf::result<bool> {
      if (!local_sender(self))
        return not_local();
      auto& st = self->state;
      if (st.candidate) {
        st.candidate->open = false;
        refuse_joins(*st.candidate, errc::not_found, "this node yielded to a smaller id");
      }
      return true;
    },
    [=](avg_form_atom, uint32_t wanted, caf::timespan wait, bool last) -> caf::result<group_ptr> {
      if (!local_sender(self))
        return not_local();
      auto& st = self->state;
      if (!st.candidate || !st.candidate->open)
        return make_error(errc::unavailable, "not a candidate for leading a round");
      auto& c = *st.candidate;
      if (c.form)
        c.form->deliver(make_error(errc::unavailable, "another form request came"));
      auto rp = self->make_response_promise<group_ptr>();
      c.form = rp;
      c.wanted = wanted;
      c.last = last;
      c.serial += 1;
      if (c.joins.size() + 1 >= wanted)
        form_now(self);
      else
        self->delayed_send(self, wait, avg_gather_atom::value, c.serial);
      return rp;
    },
    [=](avg_gather_atom, uint64_t serial) {
      auto& st = self->state;
      if (!st.candidate || !st.candidate->form || st.candidate->serial != serial)
        return;
      auto& c = *st.candidate;
      if (c.last) {
        form_now(self);
        return;
      }
      c.form->deliver(make_error(errc::timeout, "not yet: fewer members than wanted"));
      c.form.reset();
    },
    [=](avg_begin_atom, group_ptr& g, uint32_t own_index, caf::actor& leader) -> caf::result<bool> {
      if (!local_sender(self))
        return not_local();
      if (!g || own_index >= g->members.size())
        return make_error(errc::invalid_argument, "no group to begin");
      start_round(self, std::move(g), own_index, false, std::move(leader));
      return true;
    },
    [=](avg_state_atom, state_ptr& s) -> caf::result<bool> {
      if (!local_sender(self))
        return not_local();
      auto& served = self->state.served;
      bool first = served.empty();
      if (!first && served.front()->header.outer_step == s->header.outer_step)
        served.pop_front();  // the same outer step again (a download adopted): replaced
      served.push_front(std::move(s));
      if (served.size() > kept_states)
        served.pop_back();
      if (first)
        self->send(self, avg_declare_atom::value);
      else
        declare_member(self);  // at once: others match rounds by members' outer steps
      return true;
    },
    [=](avg_timer_atom, uint64_t id, uint32_t which) { on_timer(self, id, which); },
    [=](avg_declare_atom) {
      declare_member(self);
      self->delayed_send(self, member_declare_period, avg_declare_atom::value);
    },
  };
}

}  // namespace dmoe::averaging

namespace dmoe {

std::string members_key(const std::string& run) {
  return "avg." + run + ".members";
}

std::string round_key(const std::string& run, uint64_t outer_step) {
  return "avg." + run + ".round." + std::to_string(outer_step);
}

std::string encode_member(const std::string& run, const avg::member& m) {
  auto bytes = avg::encode_request(avg::request{run, 0, m}).bytes;
  return {bytes.begin(), bytes.end()};
}

caf::expected<avg::member> decode_member(const std::string& run, const std::string& value,
                                         const wire_limits& limits) {
  payload in{{value.begin(), value.end()}};
  auto req = avg::decode_request(in, limits);
  if (!req)
    return req.error();
  if (req->run != run || !std::holds_alternative<avg::member>(req->body))
    return make_error(errc::invalid_argument, "not a member of run '" + run + "'");
  return std::get<avg::member>(req->body);
}

averager_actor spawn_averager(caf::actor_system& system, averager_setup setup) {
  return system.spawn(averaging::averager, std::move(setup));
}

}  // namespace dmoe
