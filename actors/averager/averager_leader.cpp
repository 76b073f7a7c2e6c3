// The leader of a round: holds joins until the group forms, then decides who survived from the
// reducers' reports (averager_internal.hpp).
#include <algorithm>

#include "actors/averager/averager_internal.hpp"
#include "runtime/logging.hpp"

namespace dmoe::averaging {

void refuse_joins(candidate_state& c, errc code, const std::string& why) {
  for (auto& [m, rp] : c.joins)
    rp.deliver(refusal(code, why));
  c.joins.clear();
}

namespace {

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

}  // namespace

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

}  // namespace dmoe::averaging
