#include "actors/averager/member.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <caf/scoped_actor.hpp>
#include <fmt/format.h>

#include "actors/averager/call_runner.hpp"
#include "actors/dht/client.hpp"
#include "actors/gateway/gateway.hpp"
#include "messages/errors.hpp"
#include "runtime/endpoint.hpp"
#include "runtime/logging.hpp"

namespace dmoe {

namespace {

using averaging::call;
using averaging::run_calls;
using averaging::traffic;
using steady = std::chrono::steady_clock;

constexpr auto poll_period = std::chrono::milliseconds(200);
constexpr auto local_timeout = std::chrono::seconds(10);

caf::timespan until(steady::time_point deadline) {
  auto left = deadline - steady::now();
  return std::max<caf::timespan>(std::chrono::milliseconds(1),
                                 std::chrono::duration_cast<caf::timespan>(left));
}

template <class T>
caf::expected<T> expect_reply(avg::reply& r, const char* what) {
  if (auto* x = std::get_if<T>(&r))
    return std::move(*x);
  return make_error(errc::malformed, std::string{"expected "} + what + " in the reply");
}

}  // namespace

std::string new_member_id() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
}

averaging_member::averaging_member(caf::actor_system& system, member_setup setup)
  : system_(system), setup_(std::move(setup)), log_(log::get(setup_.name)) {
}

caf::expected<caf::actor> averaging_member::reach(const std::string& endpoint) {
  if (endpoint == setup_.endpoint && !endpoint.empty())
    return caf::actor_cast<caf::actor>(setup_.averager);
  // A peer whose calls failed is dialed again; the others keep their handle (a second
  // connection to a node this one is connected to already only hands back the first's).
  for (auto i = peers_.begin(); i != peers_.end();)
    i = unreachable_.count(i->second.address()) > 0 ? peers_.erase(i) : std::next(i);
  unreachable_.clear();
  if (auto known = peers_.find(endpoint); known != peers_.end())
    return known->second;
  caf::expected<caf::actor> handle = make_error(errc::unavailable, "not dialed");
  if (setup_.dial) {
    handle = setup_.dial(endpoint);
  } else {
    auto ep = parse_endpoint(endpoint);
    if (!ep)
      return ep.error();
    auto gw = dial_gateway(system_, ep->host, ep->port, std::chrono::seconds(10));
    if (!gw)
      return gw.error();
    handle = caf::actor_cast<caf::actor>(*gw);
  }
  if (handle)
    peers_[endpoint] = *handle;
  return handle;
}

std::vector<avg::member> averaging_member::listed(const std::string& key) {
  std::vector<avg::member> out;
  auto got = dht::get(system_, setup_.dht, key);
  if (!got)
    return out;
  for (const auto& item : got->items)
    if (auto m = decode_member(setup_.options.run, item.value, setup_.limits))
      out.push_back(std::move(*m));
  return out;
}

std::optional<avg::member> averaging_member::most_advanced() {
  std::optional<avg::member> best;
  for (auto& m : listed(members_key(setup_.options.run)))
    if (m.id != setup_.id && !m.endpoint.empty() && (!best || m.outer_step > best->outer_step))
      best = m;
  return best;
}

void averaging_member::publish(state_ptr state) {
  caf::scoped_actor self{system_};
  self->request(setup_.averager, local_timeout, avg_state_atom::value, std::move(state))
    .receive([](bool) {},
             [&](caf::error& err) { log_->warn("cannot publish the state: {}", describe(err)); });
}

caf::expected<round_output> averaging_member::average(const round_input& in,
                                                      round_failure* failure) {
  const auto& opt = setup_.options;
  auto fail = [&](caf::error err, std::string donor = {}) -> caf::expected<round_output> {
    if (failure)
      *failure = round_failure{err, std::move(donor)};
    return err;
  };
  bool client = opt.client_mode || setup_.endpoint.empty();
  avg::member me{setup_.id, client ? std::string{} : setup_.endpoint, in.outer_step,
                 in.fingerprint, in.weight, in.elements};
  auto key = round_key(opt.run, in.outer_step);
  auto gather = std::chrono::duration_cast<steady::duration>(opt.gather_timeout);
  auto expiration = dht::wall_clock() + 4 * std::chrono::duration<double>(gather).count();
  if (auto stored = dht::declare(system_, setup_.dht, key, "r", encode_member(opt.run, me),
                                 expiration);
      !stored)
    log_->warn("could not declare for round {}: {}", in.outer_step, describe(stored.error()));
  caf::scoped_actor self{system_};
  auto local = [&](auto... xs) {
    caf::error err;
    self->request(setup_.averager, local_timeout, xs...)
      .receive([](bool) {}, [&](caf::error& e) { err = std::move(e); });
    return err;
  };
  auto candidate = [&] { return client ? caf::error{} : local(avg_candidate_atom::value, candidacy{me}); };
  if (auto err = candidate())
    return fail(err);
  auto deadline = steady::now() + gather;
  group_ptr g;
  caf::actor leader;
  bool leading = false;
  bool yielded = false;
  traffic t;
  while (!g && steady::now() < deadline + gather) {
    auto seen = listed(key);
    std::vector<avg::member> leaders;
    for (auto& m : seen)
      if (m.outer_step == in.outer_step && !m.endpoint.empty())
        leaders.push_back(m);
    if (!client)
      leaders.push_back(me);
    if (leaders.empty()) {
      std::this_thread::sleep_for(poll_period);
      continue;
    }
    auto lead = *std::min_element(leaders.begin(), leaders.end(),
                                  [](const avg::member& a, const avg::member& b) { return a.id < b.id; });
    if (lead.id == me.id) {
      if (yielded) {
        if (auto err = candidate())
          return fail(err);
        yielded = false;
      }
      size_t ready = 0;
      for (auto& m : listed(members_key(opt.run)))
        ready += m.outer_step == in.outer_step && m.id != me.id ? 1 : 0;
      std::set<std::string> declared;
      for (auto& m : seen)
        declared.insert(m.id);
      declared.insert(me.id);
      auto wanted = static_cast<uint32_t>(std::min<size_t>(
        opt.group_size, std::max({declared.size(), ready + 1, opt.min_group})));
      // The group forms once `wanted` are in; until the matchmaking's end this member looks
      // again every poll_period, so a smaller id declaring late still leads.
      bool last = steady::now() + poll_period >= deadline;
      auto wait = last ? until(deadline) : caf::timespan{poll_period};
      caf::error err;
      self->request(setup_.averager, wait + local_timeout, avg_form_atom::value, wanted, wait, last)
        .receive([&](group_ptr& formed) { g = std::move(formed); },
                 [&](caf::error& e) { err = std::move(e); });
      if (!g && !last && code_of(err) == errc::timeout)
        continue;
      if (err)
        return fail(make_error(code_of(err), message_of(err) + " (" + std::to_string(declared.size())
                                               + " declared for this round, "
                                               + std::to_string(ready + 1) + " at this outer step)"));
      leading = true;
      break;
    }
    if (!client && !yielded) {
      local(avg_yield_atom::value);
      yielded = true;
    }
    auto handle = reach(lead.endpoint);
    if (!handle) {
      log_->debug("cannot reach the leader at {}: {}", lead.endpoint, describe(handle.error()));
      std::this_thread::sleep_for(poll_period);
      continue;
    }
    avg::request join{opt.run, 0, me};
    caf::error err;
    self->request(*handle, gather + local_timeout, average_rpc_atom::value, avg::encode_request(join))
      .receive(
        [&](payload& reply) {
          auto r = avg::decode_reply(reply, setup_.limits);
          if (!r)
            err = r.error();
          else if (auto* formed = std::get_if<avg::group>(&*r))
            g = std::make_shared<const avg::group>(std::move(*formed));
          else
            err = make_error(errc::malformed, "a join answered without a group");
        },
        [&](caf::error& e) {
          err = std::move(e);
          unreachable_.insert(handle->address());
        });
    if (g) {
      leader = *handle;
      break;
    }
    if (code_of(err) == errc::expired)
      return fail(err, lead.endpoint);
    if (code_of(err) != errc::not_found)
      return fail(err);
    std::this_thread::sleep_for(poll_period);
  }
  if (!g)
    return fail(make_error(errc::timeout, "no group formed for outer step "
                                            + std::to_string(in.outer_step)));
  auto own = std::find_if(g->members.begin(), g->members.end(),
                          [&](const avg::member& m) { return m.id == me.id; });
  if (own == g->members.end())
    return fail(make_error(errc::malformed, "the group does not list this member"));
  auto index = static_cast<uint32_t>(own - g->members.begin());
  if (!leading) {
    caf::error err;
    self->request(setup_.averager, local_timeout, avg_begin_atom::value, g, index, leader)
      .receive([](bool) {}, [&](caf::error& e) { err = std::move(e); });
    if (err)
      return fail(err);
  } else {
    leader = caf::actor_cast<caf::actor>(setup_.averager);
  }
  auto round_timeout = opt.round_timeout;
  auto piece_n = static_cast<uint32_t>(
    std::clamp<uint64_t>(setup_.limits.part_bytes / 4, 1024, avg::piece_elements));
  const auto* grouped_values = in.values();
  if (!grouped_values || grouped_values->size() != in.elements)
    return fail(make_error(errc::internal, "no values to average"));
  const auto& values = *grouped_values;
  auto contribute = [&](uint32_t p, const caf::actor& to, std::vector<call>& calls) {
    for (uint64_t off = 0; off < g->part_size(p); off += piece_n) {
      auto count = static_cast<uint32_t>(std::min<uint64_t>(piece_n, g->part_size(p) - off));
      avg::contribute c{index, avg::encode_piece(values.data() + g->bounds[p] + off, count, g->enc,
                                                 p, off)};
      calls.push_back({to, avg::request{opt.run, g->id, std::move(c)},
                       [](avg::reply& r) {
                         auto got = expect_reply<avg::ack>(r, "an ack");
                         return got ? caf::error{} : got.error();
                       }});
    }
  };
  std::vector<caf::actor> reducers(g->parts());
  std::vector<call> calls;
  for (uint32_t p = 0; p < g->parts(); ++p) {
    auto to = reach(g->members[g->reducers[p]].endpoint);
    if (!to) {
      log_->warn("cannot reach the reducer of part {}: {}", p, describe(to.error()));
      continue;
    }
    reducers[p] = *to;
    contribute(p, *to, calls);
  }
  auto phase_end = steady::now() + std::chrono::duration_cast<steady::duration>(round_timeout);
  if (auto err = run_calls(system_, calls, round_timeout, phase_end, setup_.limits, t,
                           unreachable_))
    log_->warn("round {:016x}: a contribution failed: {}", g->id, describe(err));
  // The decision: who survived, which parts the leader reduces again.
  avg::decision d;
  std::vector<call> ask;
  ask.push_back({leader, avg::request{opt.run, g->id, avg::outcome{}}, [&](avg::reply& r) {
                   auto got = expect_reply<avg::decision>(r, "a decision");
                   if (got)
                     d = std::move(*got);
                   return got ? caf::error{} : got.error();
                 }});
  if (auto err = run_calls(system_, ask, 2 * round_timeout, steady::now(), setup_.limits, t,
                           unreachable_))
    return fail(err);
  if (std::find(d.survivors.begin(), d.survivors.end(), index) == d.survivors.end())
    return fail(make_error(errc::unavailable, "dropped from round: a reducer lacks this member's "
                                              "contribution"));
  if (!d.orphans.empty()) {
    calls.clear();
    for (auto p : d.orphans) {
      reducers[p] = leader;
      contribute(p, leader, calls);
    }
    phase_end = steady::now() + std::chrono::duration_cast<steady::duration>(round_timeout);
    if (auto err = run_calls(system_, calls, round_timeout, phase_end, setup_.limits, t,
                           unreachable_))
      return fail(err);
  }
  round_output out;
  out.average.resize(values.size());
  calls.clear();
  for (uint32_t p = 0; p < g->parts(); ++p) {
    if (!reducers[p])
      return fail(make_error(errc::unavailable, "part " + std::to_string(p) + "'s reducer is out of reach"));
    for (uint64_t off = 0; off < g->part_size(p); off += piece_n) {
      auto count = static_cast<uint32_t>(std::min<uint64_t>(piece_n, g->part_size(p) - off));
      auto at = g->bounds[p] + off;
      calls.push_back({reducers[p], avg::request{opt.run, g->id, avg::fetch{p, off, count}},
                       [&out, at, count, p, off](avg::reply& r) -> caf::error {
                         auto got = expect_reply<avg::piece>(r, "a piece");
                         if (!got)
                           return got.error();
                         if (got->part != p || got->offset != off || got->count != count)
                           return make_error(errc::invalid_argument, "a reducer answered another piece");
                         auto v = avg::decode_piece(*got);
                         if (!v)
                           return v.error();
                         std::copy(v->begin(), v->end(), out.average.begin() + static_cast<ptrdiff_t>(at));
                         return caf::none;
                       }});
    }
  }
  if (auto err = run_calls(system_, calls, 2 * round_timeout, steady::now(), setup_.limits, t,
                           unreachable_))
    return fail(err);
  out.members = g->members.size();
  out.reducers = g->parts();
  out.survivors = d.survivors.size();
  for (auto s : d.survivors)
    out.weight += g->members[s].weight;
  out.bytes_sent = t.sent;
  out.bytes_received = t.received;
  return out;
}

caf::expected<averaging_state> averaging_member::download_state(const std::string& model,
                                                                uint64_t elements,
                                                                const std::string& donor) {
  std::vector<avg::member> donors;
  if (!donor.empty()) {
    avg::member m;
    m.endpoint = donor;
    donors.push_back(m);
  } else {
    for (auto& m : listed(members_key(setup_.options.run)))
      if (m.id != setup_.id && !m.endpoint.empty() && m.elements == elements)
        donors.push_back(m);
    std::sort(donors.begin(), donors.end(), [](const avg::member& a, const avg::member& b) {
      return a.outer_step > b.outer_step;
    });
  }
  auto total = 2 * elements;
  for (const auto& d : donors) {
    auto to = reach(d.endpoint);
    if (!to) {
      log_->warn("state donor {} is out of reach: {}", d.endpoint, describe(to.error()));
      continue;
    }
    log_->info("downloading the state{} from {}",
              d.id.empty() ? std::string{} : " of outer step " + std::to_string(d.outer_step),
              d.endpoint);
    averaging_state state;
    state.values.resize(total);
    // The first piece names the donor's newest state; the rest ask for that one, which the
    // donor keeps for a while even when it takes further outer steps meanwhile.
    std::optional<avg::state_header> first;
    auto take = [&](avg::reply& r, uint64_t off, uint32_t count) -> caf::error {
      auto got = expect_reply<avg::state_reply>(r, "a state piece");
      if (!got)
        return got.error();
      const auto& h = got->header;
      if (h.run != setup_.options.run || h.model != model || h.elements != elements)
        return make_error(errc::invalid_argument, "the donor's state is of another run or model ('"
                                                    + h.run + "', '" + h.model + "', "
                                                    + std::to_string(h.elements) + " parameters)");
      if (first && (first->outer_step != h.outer_step || first->fingerprint != h.fingerprint))
        return make_error(errc::expired, "the donor's state changed mid-download");
      if (got->values.offset != off || got->values.count != count)
        return make_error(errc::invalid_argument, "the donor answered another piece");
      auto v = avg::decode_piece(got->values);
      if (!v)
        return v.error();
      first = h;
      std::copy(v->begin(), v->end(), state.values.begin() + static_cast<ptrdiff_t>(off));
      return caf::none;
    };
    auto piece = [&](uint64_t off, bool pinned, uint64_t outer_step) {
      auto count = static_cast<uint32_t>(std::min<uint64_t>(avg::piece_elements, total - off));
      return call{*to, avg::request{setup_.options.run, 0,
                                    avg::state_fetch{off, count, pinned, outer_step}},
                  [&take, off, count](avg::reply& r) { return take(r, off, count); }};
    };
    std::vector<call> calls{piece(0, false, 0)};
    traffic first_piece;
    auto timeout = std::max<caf::timespan>(setup_.options.round_timeout, std::chrono::seconds(60));
    auto err = run_calls(system_, calls, timeout, steady::now(), setup_.limits, first_piece,
                         unreachable_);
    calls.clear();
    if (!err && first)
      for (uint64_t off = avg::piece_elements; off < total; off += avg::piece_elements)
        calls.push_back(piece(off, true, first->outer_step));
    // Two pieces in flight, each with a minute at least: a state is megabytes, links may be slow.
    traffic t = first_piece;
    if (!err)
      err = run_calls(system_, calls, timeout, steady::now(), setup_.limits, t, unreachable_, 2);
    if (err || !first) {
      log_->warn("the state download from {} failed: {}; trying another member", d.endpoint,
                 err ? describe(err) : std::string{"empty state"});
      continue;
    }
    state.header = *first;
    log_->info("downloaded the state of outer step {} from {} ({:.1f} MB)", state.header.outer_step,
               d.endpoint, static_cast<double>(t.received) / 1e6);
    return state;
  }
  return make_error(errc::not_found, "no member of run '" + setup_.options.run
                                       + "' could give its state");
}

}  // namespace dmoe
