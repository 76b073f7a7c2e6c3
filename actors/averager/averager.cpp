#include "actors/averager/averager.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>

#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/guard/control_guard.hpp"
#include "messages/errors.hpp"
#include "runtime/logging.hpp"

namespace dmoe {

namespace {

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

payload refusal(errc code, std::string why) {
  return avg::encode_reply(make_error(code, std::move(why)));
}

payload answer(avg::reply r) {
  return avg::encode_reply(std::move(r));
}

bool local_sender(averager_stateful* self) {
  auto sender = self->current_sender();
  return sender && sender->node() == self->node();
}

caf::error not_local() {
  return make_error(errc::forbidden, "only this node's trainer may ask this");
}

std::string short_id(const std::string& id) {
  return id.substr(0, 8);
}

// ---- the leader ----

void refuse_joins(candidate_state& c, errc code, const std::string& why) {
  for (auto& [m, rp] : c.joins)
    rp.deliver(refusal(code, why));
  c.joins.clear();
}

std::vector<uint64_t> even_bounds(uint64_t elements, size_t parts) {
  std::vector<uint64_t> bounds;
  for (size_t i = 0; i <= parts; ++i)
    bounds.push_back(elements * i / parts);
  return bounds;
}

avg::encoding encoding_of(vector_encoding_kind k) {
  switch (k) {
    case vector_encoding_kind::float16:
      return avg::encoding::float16;
    case vector_encoding_kind::int8:
      return avg::encoding::int8;
    default:
      return avg::encoding::float32;
  }
}

void start_round(averager_stateful* self, group_ptr g, uint32_t own_index, bool leader,
                 caf::actor leader_handle);

void form_now(averager_stateful* self) {
  auto& st = self->state;
  if (!st.candidate || !st.candidate->form)
    return;
  auto& c = *st.candidate;
  c.open = false;
  auto rp = *c.form;
  c.form.reset();
  auto size = c.joins.size() + 1;
  if (size < st.setup.options.min_group) {
    auto why = "too few members for a round: " + std::to_string(size) + " of at least "
               + std::to_string(st.setup.options.min_group) + " (averaging.min-group)";
    refuse_joins(c, errc::unavailable, why);
    rp.deliver(make_error(errc::unavailable, why));
    return;
  }
  auto g = std::make_shared<avg::group>();
  g->id = st.rng() | 1;
  g->enc = encoding_of(st.setup.options.compression);
  g->members.push_back(c.self);
  for (auto& [m, _] : c.joins)
    g->members.push_back(m);
  std::sort(g->members.begin(), g->members.end(),
            [](const avg::member& a, const avg::member& b) { return a.id < b.id; });
  for (uint32_t i = 0; i < g->members.size(); ++i)
    if (!g->members[i].endpoint.empty())
      g->reducers.push_back(i);
  g->bounds = even_bounds(c.self.elements, g->reducers.size());
  auto own = static_cast<uint32_t>(
    std::find_if(g->members.begin(), g->members.end(),
                 [&](const avg::member& m) { return m.id == c.self.id; })
    - g->members.begin());
  for (auto& [m, join_rp] : c.joins)
    join_rp.deliver(answer(*g));
  c.joins.clear();
  st.log->info("leading round {:016x} of outer step {}: {} members, {} reducers", g->id,
               c.self.outer_step, g->members.size(), g->reducers.size());
  start_round(self, g, own, true, {});
  rp.deliver(group_ptr{g});
}

caf::result<payload> join(averager_stateful* self, avg::member m) {
  auto& st = self->state;
  if (!st.candidate || !st.candidate->open)
    return refusal(errc::not_found, "this node leads no round now");
  auto& c = *st.candidate;
  if (m.outer_step != c.self.outer_step || m.fingerprint != c.self.fingerprint
      || m.elements != c.self.elements)
    return refusal(errc::expired,
                   "out of sync: this round is at outer step " + std::to_string(c.self.outer_step)
                     + " with fingerprint " + std::to_string(c.self.fingerprint) + " and "
                     + std::to_string(c.self.elements) + " elements; download the state");
  if (m.id == c.self.id)
    return refusal(errc::invalid_argument, "a member cannot join itself");
  for (auto& [held, _] : c.joins)
    if (held.id == m.id)
      return refusal(errc::invalid_argument, "member " + short_id(m.id) + " already joined");
  if (c.joins.size() + 1 >= st.setup.options.group_size)
    return refusal(errc::limit_exceeded, "the group is full (averaging.group-size)");
  auto rp = self->make_response_promise<payload>();
  c.joins.emplace_back(std::move(m), rp);
  if (c.form && c.joins.size() + 1 >= c.wanted)
    form_now(self);
  return rp;
}

void apply_decision(averager_stateful* self, round_state& r, const avg::decision& d);
void fail_parts(round_state& r, const caf::error& why);

void decide(averager_stateful* self, round_state& r) {
  if (!r.leader || r.decided || r.abandoned)
    return;
  const auto& g = *r.g;
  avg::decision d;
  for (uint32_t m = 0; m < g.members.size(); ++m) {
    bool everywhere = true;
    for (uint32_t p = 0; p < g.parts(); ++p) {
      auto rep = r.reports.find(p);
      if (rep == r.reports.end())
        everywhere &= g.reducers[p] != m;  // a reducer that never reported is gone
      else
        everywhere &= std::count(rep->second.begin(), rep->second.end(), m) > 0;
    }
    if (everywhere)
      d.survivors.push_back(m);
  }
  for (uint32_t p = 0; p < g.parts(); ++p)
    if (!r.reports.count(p))
      d.orphans.push_back(p);
  // Two survivors still make an average; min_group bounds only who forms a group.
  if (d.survivors.size() < 2
      || std::find(d.survivors.begin(), d.survivors.end(), r.self) == d.survivors.end()) {
    r.abandoned = make_error(errc::unavailable,
                             "round abandoned: " + std::to_string(d.survivors.size()) + " of "
                               + std::to_string(g.members.size()) + " members survived");
    self->state.log->warn("round {:016x}: {}", g.id, message_of(r.abandoned));
    for (auto& rp : r.waiting)
      rp.deliver(avg::encode_reply(r.abandoned));
    r.waiting.clear();
    fail_parts(r, r.abandoned);
    return;
  }
  if (d.survivors.size() < g.members.size() || !d.orphans.empty())
    self->state.log->warn("round {:016x}: {} of {} members survived, {} parts reduced again here",
                          g.id, d.survivors.size(), g.members.size(), d.orphans.size());
  r.decided = d;
  for (auto& rp : r.waiting)
    rp.deliver(answer(d));
  r.waiting.clear();
  apply_decision(self, r, d);
}

void record_report(averager_stateful* self, round_state& r, uint32_t part,
                   std::vector<uint32_t> senders) {
  r.reports[part] = std::move(senders);
  if (r.reports.size() == r.g->parts())
    decide(self, r);
}

// ---- the reducer ----

void serve_fetch(reduced_part& part, const avg::group& g, const avg::fetch& f, rpc_promise rp) {
  if (part.failure) {
    rp.deliver(avg::encode_reply(part.failure));
    return;
  }
  const auto& avgv = *part.average;
  rp.deliver(answer(avg::encode_piece(avgv.data() + f.offset, f.count, g.enc, f.part, f.offset)));
}

void average_part(round_state& r, uint32_t index, reduced_part& part,
                  const std::vector<uint32_t>& survivors) {
  const auto& g = *r.g;
  double total = 0;
  for (auto s : survivors) {
    if (!part.complete(s)) {
      part.failure = make_error(errc::unavailable, "part " + std::to_string(index)
                                                     + " lacks a survivor's contribution");
      break;
    }
    total += g.members[s].weight;
  }
  if (!part.failure) {
    std::vector<double> sum(part.size, 0.0);
    for (auto s : survivors) {
      double w = total > 0 ? g.members[s].weight / total : 1.0 / survivors.size();
      const auto& v = part.values[s];
      for (uint64_t j = 0; j < part.size; ++j)
        sum[j] += w * v[j];
    }
    part.average.emplace(sum.begin(), sum.end());
    part.values.clear();
  }
  for (auto& [f, rp] : part.waiting)
    serve_fetch(part, g, f, rp);
  part.waiting.clear();
}

void fail_parts(round_state& r, const caf::error& why) {
  for (auto& [index, part] : r.parts) {
    if (part.average)
      continue;
    part.failure = why;
    for (auto& [f, rp] : part.waiting)
      rp.deliver(avg::encode_reply(why));
    part.waiting.clear();
  }
}

void apply_decision(averager_stateful* self, round_state& r, const avg::decision& d) {
  for (auto& [index, part] : r.parts)
    if (!part.orphan)
      average_part(r, index, part, d.survivors);
  if (!r.leader || d.orphans.empty())
    return;
  for (auto p : d.orphans) {
    auto& part = r.parts[p];
    part.size = r.g->part_size(p);
    part.orphan = true;
    part.expected = {d.survivors.begin(), d.survivors.end()};
  }
  self->delayed_send(self, self->state.setup.options.round_timeout, avg_timer_atom::value, r.g->id,
                     static_cast<uint32_t>(orphans_due));
}

void report(averager_stateful* self, round_state& r, uint32_t index, reduced_part& part) {
  if (part.reported || part.orphan)
    return;
  part.reported = true;
  auto senders = part.complete_senders();
  if (r.leader) {
    record_report(self, r, index, std::move(senders));
    return;
  }
  avg::request req{self->state.setup.options.run, r.g->id, avg::report{index, senders}};
  auto id = r.g->id;
  auto limits = self->state.setup.limits;
  // A report may go out as soon as the round began; the leader decides within 1.5 x
  // round_timeout of that.
  self->request(r.leader_handle, 2 * self->state.setup.options.round_timeout,
                average_rpc_atom::value, avg::encode_request(req))
    .then(
      [=](payload& reply) {
        auto i = self->state.rounds.find(id);
        if (i == self->state.rounds.end())
          return;
        auto decoded = avg::decode_reply(reply, limits);
        if (decoded && std::holds_alternative<avg::decision>(*decoded))
          apply_decision(self, i->second, std::get<avg::decision>(*decoded));
        else
          fail_parts(i->second, decoded ? make_error(errc::malformed, "the leader answered a "
                                                                      "report without a decision")
                                        : decoded.error());
      },
      [=](caf::error& err) {
        auto i = self->state.rounds.find(id);
        if (i != self->state.rounds.end())
          fail_parts(i->second, err);
      });
}

caf::result<payload> contribute(averager_stateful* self, uint64_t id, avg::contribute c) {
  auto i = self->state.rounds.find(id);
  if (i == self->state.rounds.end())
    return refusal(errc::not_found, "no round " + std::to_string(id) + " here (yet)");
  auto& r = i->second;
  auto p = r.parts.find(c.data.part);
  if (p == r.parts.end())
    return refusal(errc::invalid_argument,
                   "this node does not reduce part " + std::to_string(c.data.part));
  auto& part = p->second;
  if (!part.expected.count(c.sender))
    return refusal(errc::invalid_argument, "member " + std::to_string(c.sender)
                                             + " is not expected to contribute to this part");
  if (part.reported || part.average || part.failure)
    return refusal(errc::expired, "part " + std::to_string(c.data.part) + " is closed");
  if (c.data.offset > part.size || c.data.count > part.size - c.data.offset)
    return refusal(errc::invalid_argument, "a piece beyond the part's " + std::to_string(part.size)
                                             + " elements");
  if (c.data.enc != r.g->enc)
    return refusal(errc::invalid_argument, std::string{"the round's encoding is "}
                                             + avg::to_string(r.g->enc));
  if (!part.pieces[c.sender].insert(c.data.offset).second)
    return refusal(errc::invalid_argument, "a piece sent twice");
  auto values = avg::decode_piece(c.data);
  if (!values) {
    part.refused.insert(c.sender);
    self->state.log->warn("round {:016x}: refused member {}'s part {}: {}", id, c.sender,
                          c.data.part, message_of(values.error()));
    return avg::encode_reply(values.error());
  }
  auto& into = part.values[c.sender];
  into.resize(part.size);
  std::copy(values->begin(), values->end(), into.begin() + static_cast<ptrdiff_t>(c.data.offset));
  part.received[c.sender] += c.data.count;
  if (part.all_in()) {
    if (part.orphan)
      average_part(r, c.data.part, part, {part.expected.begin(), part.expected.end()});
    else
      report(self, r, c.data.part, part);
  }
  return answer(avg::ack{});
}

caf::result<payload> fetch(averager_stateful* self, uint64_t id, avg::fetch f) {
  auto i = self->state.rounds.find(id);
  if (i == self->state.rounds.end())
    return refusal(errc::not_found, "no round " + std::to_string(id) + " here");
  auto p = i->second.parts.find(f.part);
  if (p == i->second.parts.end())
    return refusal(errc::invalid_argument, "this node does not reduce part " + std::to_string(f.part));
  auto& part = p->second;
  if (f.offset > part.size || f.count > part.size - f.offset)
    return refusal(errc::invalid_argument, "a fetch beyond the part");
  auto rp = self->make_response_promise<payload>();
  if (part.average || part.failure)
    serve_fetch(part, *i->second.g, f, rp);
  else
    part.waiting.emplace_back(f, rp);
  return rp;
}

caf::result<payload> leader_request(averager_stateful* self, uint64_t id,
                                    std::optional<avg::report> rep) {
  auto i = self->state.rounds.find(id);
  if (i == self->state.rounds.end() || !i->second.leader)
    return refusal(errc::not_found, "this node leads no round " + std::to_string(id));
  auto& r = i->second;
  if (r.abandoned)
    return avg::encode_reply(r.abandoned);
  auto rp = self->make_response_promise<payload>();
  if (r.decided)
    rp.deliver(answer(*r.decided));
  else
    r.waiting.push_back(rp);
  if (rep && rep->part < r.g->parts() && r.g->reducers[rep->part] != r.self && !r.decided)
    record_report(self, r, rep->part, std::move(rep->senders));
  return rp;
}

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

}  // namespace

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
  return system.spawn(averager, std::move(setup));
}

}  // namespace dmoe
