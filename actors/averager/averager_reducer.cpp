// The reduction of a round's parts: contributions in, averages out, reports to the leader
// (averager_internal.hpp).
#include <algorithm>

#include "actors/averager/averager_internal.hpp"
#include "runtime/logging.hpp"

namespace dmoe::averaging {

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


}  // namespace dmoe::averaging
