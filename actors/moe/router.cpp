// The router actor: its behavior, DHT lookups through the cache, expert calls, server
// monitoring and stats. The two job kinds live in router_forward.cpp and router_backward.cpp.
#include "actors/moe/router.hpp"

#include <algorithm>
#include <set>

#include <caf/actor_cast.hpp>
#include <caf/config_value.hpp>
#include <caf/settings.hpp>

#include "actors/dht/node.hpp"
#include "actors/dht/node_id.hpp"
#include "actors/dht/ownership.hpp"
#include "actors/guard/control_guard.hpp"
#include "actors/moe/router_state.hpp"
#include "messages/errors.hpp"
#include "messages/type_ids.hpp"

namespace dmoe::moe {

void router_state::init(router_impl::pointer self, router_setup setup) {
  self_ = self;
  setup_ = std::move(setup);
  if (!setup_.clock)
    setup_.clock = dht::wall_clock;
  log_ = log::get(setup_.name + "/router");
  // What another node publishes is its gateway.
  resolver_ = std::make_unique<dht::peer_resolver>(self, setup_.directory, server_connect_timeout,
                                                   self->system().message_types<gateway_actor>());
  auto max_age = std::chrono::duration<double>(setup_.options.directory_cache).count();
  cache_ = std::make_unique<dht_cache>(max_age);
  parts_ = std::make_unique<parts_caller>(setup_.limits);
}

double router_state::now() const {
  return setup_.clock();
}

caf::timespan router_state::remaining(steady::time_point deadline) const {
  auto left = deadline - steady::now();
  return std::max(caf::timespan{std::chrono::milliseconds(1)},
                  std::chrono::duration_cast<caf::timespan>(left));
}

bool router_state::advance(quorum::step next, uint64_t id) {
  switch (next) {
    case quorum::step::finish:
      return true;
    case quorum::step::settle:
      self_->delayed_send(self_, setup_.options.timeout_after_k_min, moe_settle_atom::value, id);
      return false;
    case quorum::step::wait:
      return false;
  }
  return false;
}

router_impl::behavior_type router_state::make_behavior() {
  guard_control(self_, log_);
  self_->set_down_handler([this](caf::down_msg& msg) {
    if (genuine_down(self_, msg, *log_))
      server_down(msg.source);
  });
  return {
    [this](moe_forward_atom, forward_job_ptr& job) -> caf::result<caf::ok_atom> {
      auto rp = self_->make_response_promise<caf::ok_atom>();
      start_forward(std::move(job), rp);
      return rp;
    },
    [this](moe_backward_atom, backward_job_ptr& job) -> caf::result<caf::ok_atom> {
      auto rp = self_->make_response_promise<caf::ok_atom>();
      start_backward(std::move(job), rp);
      return rp;
    },
    [this](stats_atom) { return stats(); },
    [this](moe_deadline_atom, uint64_t id) {
      if (from_itself())
        finish_job(id);
    },
    [this](moe_settle_atom, uint64_t id) {
      if (from_itself())
        finish_job(id);
    },
    [this](moe_failed_atom, uint64_t call_id, caf::error& reason) {
      call_failed(call_id, reason);
    },
    [this](wire_part_atom, uint64_t transfer, payload& part) {
      parts_->part_arrived(caf::actor_cast<caf::actor_addr>(self_->current_sender()), transfer,
                          std::move(part), now());
      if (auto refused = parts_->take_refusal())
        log_->warn("a reply in parts was refused: {}", describe(refused));
    },
  };
}

bool router_state::from_itself() const {
  auto sender = self_->current_sender();
  return sender && sender == self_->ctrl();
}

void router_state::finish_job(uint64_t id) {
  if (forwards_.count(id) > 0)
    finish_forward(id);
  else if (backwards_.count(id) > 0)
    finish_backward(id);
}

// ---- DHT lookups ----

void router_state::fetch(uint64_t id, const std::vector<std::string>& keys) {
  auto& job = forwards_.at(id);
  auto t = now();
  for (const auto& key : keys) {
    if (const auto* items = cache_->fresh(key, t)) {
      job.route.found(key, *items);
      continue;
    }
    if (const auto* items = cache_->usable(key, t)) {
      job.route.found(key, *items);  // known live experts now, fresh ones for later jobs
      look_up(key);
      continue;
    }
    ++job.lookups_pending;
    lookup_waiters_[key].push_back(id);
    look_up(key);
  }
  if (job.lookups_pending == 0)
    forward_lookups_done(id);
}

void router_state::look_up(const std::string& key) {
  if (!lookups_under_way_.insert(key).second)
    return;  // one lookup per key at a time; every job waiting on it gets its answer
  // The lookup's own deadline, not the first waiting job's: a later job may wait on it longer.
  self_->request(setup_.dht, setup_.options.forward_timeout, dht::dht_get_atom::value, key)
    .then(
      [this, key](payload& in, uint32_t, uint32_t) {
        dht::codec_limits limits;
        limits.wire = setup_.limits;
        auto resp = dht::decode_response(in, limits);
        auto* found = resp ? std::get_if<dht::find_value_result>(&resp->body) : nullptr;
        if (found == nullptr)
          log_->warn("DHT lookup of '{}' gave no items: {}", key,
                     resp ? "an error reply" : describe(resp.error()));
        lookup_done(key, found ? &found->items : nullptr);
      },
      [this, key](caf::error& err) {
        log_->warn("DHT lookup of '{}' failed: {}", key, describe(err));
        lookup_done(key, nullptr);
      });
}

void router_state::lookup_done(const std::string& key, std::vector<dht::item>* items) {
  if (items == nullptr)
    return lookup_proven(key, nullptr);
  skip_unknown_owners(*items);
  // Only declarations signed by their owners route calls: plain or forged items are dropped.
  if (auto unowned = dht::keep_verified_owned(dht::key_id(key), *items, &verified_); unowned > 0)
    log_->debug("ignored {} item(s) under '{}' not signed by an owner", unowned, key);
  size_t undecodable = 0;
  auto declarations = read_declarations(*items, &undecodable);
  if (undecodable > 0) {
    undecodable_ += undecodable;
    log_->debug("ignored {} signed item(s) under '{}' that are no declaration", undecodable, key);
  }
  if (prove_endpoints(key, declarations))
    return;
  lookup_proven(key, &declarations);
}

void router_state::skip_unknown_owners(std::vector<dht::item>& items) {
  // Items of owners this router has met (a proven endpoint, or a proof under way) are all
  // verified; of the others, a random sample.
  std::unordered_set<std::string> met;
  for (const auto& [pair, waiting] : proof_waiters_)
    met.insert(pair.second);
  auto is_met = [&](const dht::item& x) {
    auto parts = dht::parse_subkey(x.subkey);
    if (!parts || !parts->owner)
      return true;  // plain or malformed: dropped without a signature check
    return met.count(*parts->owner) > 0 || proofs_.owner_met(*parts->owner);
  };
  auto unknown = std::stable_partition(items.begin(), items.end(), is_met);
  auto count = static_cast<size_t>(std::distance(unknown, items.end()));
  if (count <= max_unknown_owners_per_lookup)
    return;
  std::shuffle(unknown, items.end(), rng_);
  items.erase(unknown + static_cast<std::ptrdiff_t>(max_unknown_owners_per_lookup), items.end());
  owned_items_skipped_ += count - max_unknown_owners_per_lookup;
}

bool router_state::prove_endpoints(const std::string& key,
                                   const std::vector<declared>& declarations) {
  auto t = now();
  std::set<std::pair<std::string, std::string>> waiting_for;
  for (const auto& d : declarations) {
    const auto& endpoint = d.children.endpoint;
    if (d.expiration <= t)
      continue;
    // A server of this process (its directory) was put there by the process itself.
    if (setup_.directory && setup_.directory->find(endpoint)) {
      if (!proofs_.usable(endpoint, d.owner, t))
        proofs_.finished(endpoint, d.owner, true, t);
      continue;
    }
    switch (proofs_.check(endpoint, d.owner, t)) {
      case endpoint_proofs::status::proven:
      case endpoint_proofs::status::refused:
        break;
      case endpoint_proofs::status::stale:  // used meanwhile
        ask_proof(endpoint, d.owner);
        break;
      case endpoint_proofs::status::unknown:
        ask_proof(endpoint, d.owner);
        waiting_for.insert({endpoint, d.owner});
        break;
    }
  }
  if (waiting_for.empty())
    return false;
  auto& held = unproven_[key];
  held.declarations = declarations;
  held.waiting = waiting_for.size();
  for (const auto& p : waiting_for)
    proof_waiters_[p].push_back(key);
  return true;
}

void router_state::ask_proof(const std::string& endpoint, const std::string& owner) {
  if (!proofs_in_flight_.insert({endpoint, owner}).second)
    return;
  self_->request(setup_.dht, server_connect_timeout + setup_.options.forward_timeout,
                 dht::dht_prove_atom::value, endpoint, owner)
    .then([this, endpoint, owner](bool proven) { endpoint_proven(endpoint, owner, proven); },
          [this, endpoint, owner](caf::error& err) {
            // Not made now (the node's dial bounds) or no answer in time: asked again at a
            // later lookup; meanwhile an unknown endpoint is not used, a stale one still is.
            log_->debug("no proof of {} now: {}", endpoint, describe(err));
            endpoint_proven(endpoint, owner, std::nullopt);
          });
}

void router_state::endpoint_proven(const std::string& endpoint, const std::string& owner,
                                   std::optional<bool> proven) {
  proofs_in_flight_.erase({endpoint, owner});
  if (proven) {
    proofs_.finished(endpoint, owner, *proven, now());
    ++(*proven ? endpoints_proven_ : endpoints_refused_);
    if (!*proven)
      log_->warn("{} did not prove the key that declared it there (node {}): its declarations "
                 "are not used for {} s",
                 endpoint, dht::short_hex(dht::node_id_of(owner)), endpoint_refused_seconds);
  }
  auto i = proof_waiters_.find({endpoint, owner});
  if (i == proof_waiters_.end())
    return;
  auto keys = std::move(i->second);
  proof_waiters_.erase(i);
  for (const auto& key : keys) {
    auto held = unproven_.find(key);
    if (held == unproven_.end() || held->second.waiting == 0 || --held->second.waiting > 0)
      continue;
    auto declarations = std::move(held->second.declarations);
    unproven_.erase(held);
    lookup_proven(key, &declarations);
  }
}

void router_state::lookup_proven(const std::string& key, std::vector<declared>* found) {
  lookups_under_way_.erase(key);  // (kept while its proofs were made)
  std::vector<declared> declarations;
  if (found != nullptr) {
    auto t = now();
    for (auto& d : *found)
      if (proofs_.usable(d.children.endpoint, d.owner, t))
        declarations.push_back(std::move(d));
    // A server's batch limit comes with its declaration: calls are split from the first one.
    for (const auto& d : declarations)
      if (d.children.max_rows > 0 && servers_.batch_limit(d.children.endpoint) == 0)
        servers_.set_batch_limit(d.children.endpoint, d.children.max_rows);
    cache_->put(key, declarations, t);
  }
  auto waiting = std::move(lookup_waiters_[key]);
  lookup_waiters_.erase(key);
  std::vector<uint64_t> again;  // jobs with time left try a failed lookup once more
  for (auto id : waiting) {
    auto i = forwards_.find(id);
    if (i == forwards_.end())
      continue;
    auto& job = i->second;
    if (found == nullptr && job.looked_up_again.insert(key).second
        && steady::now() + min_lookup_retry_window < job.deadline) {
      again.push_back(id);
      continue;
    }
    if (found != nullptr)
      job.route.found(key, declarations);
    if (--job.lookups_pending == 0)
      forward_lookups_done(id);
  }
  if (!again.empty()) {
    log_->debug("looking '{}' up again for {} job(s) with time left", key, again.size());
    lookup_waiters_[key] = std::move(again);
    look_up(key);
  }
}

// ---- expert calls ----

void router_state::call(call_record rec, payload request, steady::time_point deadline) {
  auto call_id = next_id_++;
  auto server = rec.server;  // counted in flight by the route that chose it
  auto timeout = remaining(deadline);
  rec.sent = steady::now();
  calls_.emplace(call_id, std::move(rec));
  auto body = std::make_shared<payload>(std::move(request));
  resolver_->resolve(server, [this, call_id, body, timeout](caf::expected<caf::actor> peer) {
    if (!peer) {
      // resolve() may answer synchronously; fail through the mailbox to keep one code path.
      self_->send(self_, moe_failed_atom::value, call_id, peer.error());
      return;
    }
    if (calls_.count(call_id) == 0)
      return;  // already failed (its server went down while connecting)
    if (peer->node() != self_->node())  // what another node publishes is its gateway
      return call_in_parts(call_id, caf::actor_cast<gateway_actor>(*peer), std::move(*body),
                           timeout);
    self_->request(*peer, timeout, expert_rpc_atom::value, std::move(*body))
      .then([this, call_id](payload& reply) { reply_arrived(call_id, reply); },
            [this, call_id](caf::error& err) { call_failed(call_id, err); });
  });
}

void router_state::call_in_parts(uint64_t call_id, const gateway_actor& peer, payload request,
                                 caf::timespan timeout) {
  parts_->call(self_, peer, call_id, std::move(request), timeout,
              [this, call_id](caf::expected<payload> reply) {
                if (!reply)
                  return call_failed(call_id, reply.error());
                reply_arrived(call_id, *reply);
              });
}

void router_state::record_end(const call_record& rec, bool ok) {
  double latency = std::chrono::duration<double, std::milli>(steady::now() - rec.sent).count();
  servers_.call_finished(rec.server, ok ? latency : -1.0);
  auto& c = counters_[{rec.expert_id, rec.server}];
  ++c.calls;
  if (!ok) {
    ++c.failures;
    return;
  }
  c.latency_ms = c.calls == 1 ? latency
                              : (1 - latency_ewma_alpha) * c.latency_ms
                                  + latency_ewma_alpha * latency;
}

void router_state::note_refusal(const call_record& rec, const caf::error& problem) {
  if (auto code = code_of(problem); code == errc::overloaded || code == errc::expert_overloaded) {
    // Busy, not broken: routine under load, so no warning per call. A limit of one expert
    // leaves the server's other experts to be called.
    if (code == errc::overloaded)
      servers_.mark_busy(rec.server, now() + overloaded_backoff_seconds);
    else
      servers_.mark_expert_busy(rec.server, rec.expert_id, now() + overloaded_backoff_seconds);
    log_->debug("{} of {} refused by {} as overloaded: {}", rec.backward ? "backward" : "forward",
                rec.expert_id, rec.server, describe(problem));
    return;
  }
  log_->warn("{} of {} at {} failed: {}", rec.backward ? "backward" : "forward", rec.expert_id,
             rec.server, describe(problem));
}

void router_state::reply_arrived(uint64_t call_id, payload& reply) {
  auto i = calls_.find(call_id);
  if (i == calls_.end())
    return;  // failed earlier (server down) and rerouted
  auto rec = std::move(i->second);
  calls_.erase(i);
  if (rec.info)
    batch_limit_reply(rec, reply);
  else if (rec.backward)
    backward_reply(rec, reply);
  else
    forward_reply(rec, reply);
}

void router_state::call_failed(uint64_t call_id, const caf::error& reason) {
  auto i = calls_.find(call_id);
  if (i == calls_.end())
    return;
  auto rec = std::move(i->second);
  calls_.erase(i);
  parts_->forget(call_id);
  record_end(rec, false);
  log_->debug("call to {} at {} failed: {}", rec.expert_id, rec.server, describe(reason));
  if (rec.backward)
    backward_failed(rec);
  else
    forward_failed(rec);  // an info call holds forward rows too
}

void router_state::server_down(const caf::actor_addr& source) {
  auto endpoint = resolver_->forget(source);
  if (endpoint.empty())
    return;
  servers_.mark_dead(endpoint);
  log_->info("server {} is down; avoiding it until it declares again and answers", endpoint);
  std::vector<uint64_t> affected;
  for (const auto& [id, rec] : calls_)
    if (rec.server == endpoint)
      affected.push_back(id);
  std::sort(affected.begin(), affected.end());
  auto reason = make_error(errc::unavailable, "server " + endpoint + " went down");
  for (auto id : affected)
    call_failed(id, reason);
}

void router_state::probe(const std::string& endpoint) {
  resolver_->resolve(endpoint, [this, endpoint](caf::expected<caf::actor> peer) {
    servers_.probe_finished(endpoint, static_cast<bool>(peer));
    if (peer)
      log_->info("server {} is reachable again", endpoint);
    else
      log_->debug("server {} declared again but cannot be reached: {}", endpoint,
                  describe(peer.error()));
  });
}

// ---- stats ----

router_stats router_state::stats() const {
  router_stats out;
  for (const auto& [key, c] : counters_)
    out.experts.push_back({key.first, key.second, c.calls, c.failures, c.latency_ms});
  out.dead_servers = servers_.dead_servers();
  for (const auto& [id, rec] : calls_)
    out.calls_in_flight.push_back({rec.expert_id, rec.server, rec.backward});
  out.jobs_in_flight = static_cast<int64_t>(forwards_.size() + backwards_.size());
  out.cache_entries = static_cast<int64_t>(cache_->size());
  out.signature_checks = static_cast<int64_t>(verified_.verifications());
  out.endpoints_proven = static_cast<int64_t>(endpoints_proven_);
  out.endpoints_refused = static_cast<int64_t>(endpoints_refused_);
  out.signatures_remembered = static_cast<int64_t>(verified_.hits());
  out.undecodable_items = static_cast<int64_t>(undecodable_);
  out.owned_items_skipped = static_cast<int64_t>(owned_items_skipped_);
  return out;
}

router_actor spawn_router(caf::actor_system& system, router_setup setup) {
  return system.spawn([setup = std::move(setup)](router_stateful* self) mutable {
    self->state.init(self, std::move(setup));
    return self->state.make_behavior();
  });
}

}  // namespace dmoe::moe
