#include "actors/dht/node.hpp"

#include <chrono>

#include <caf/all.hpp>

#include "actors/dht/node_state.hpp"
#include "actors/guard/control_guard.hpp"
#include "messages/errors.hpp"
#include "messages/type_ids.hpp"
#include "runtime/logging.hpp"
#include "runtime/wire_guard.hpp"

namespace dmoe::dht {

namespace {

constexpr auto first_bootstrap_retry = std::chrono::seconds(1);
constexpr auto max_bootstrap_retry = std::chrono::seconds(30);

/// `period` scaled by a random factor in [0.75, 1.25], so nodes started together spread out.
caf::timespan jittered(caf::timespan period, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> factor{0.75, 1.25};
  return std::chrono::duration_cast<caf::timespan>(period * factor(rng));
}

node_stats stats_of(const node_state& st) {
  auto out = st.stats;
  out.id = to_hex(st.me.id);
  out.endpoint = st.me.endpoint;
  out.owner = st.signer->owner_tag();
  for (const auto& c : st.table->contacts())
    out.contacts.push_back({to_hex(c.info.id), c.info.endpoint, static_cast<int64_t>(c.failures)});
  out.buckets = static_cast<int64_t>(st.table->bucket_count());
  out.keys = static_cast<int64_t>(st.store->key_count());
  out.items = static_cast<int64_t>(st.store->size());
  out.peers_connected = static_cast<int64_t>(st.peers->size());
  out.signature_checks = static_cast<int64_t>(st.store->signature_checks());
  out.fair_evictions = static_cast<int64_t>(st.store->fair_evictions());
  return out;
}

node_impl::behavior_type node_behavior(node_stateful* self, node_setup setup) {
  self->state.init(self, std::move(setup));
  guard_control(self, self->state.log);
  // Peers call this actor directly once a request of theirs has been answered by it.
  accept_from_network(self->system(), self->id());
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (!genuine_down(self, msg, *st.log))
      return;
    auto endpoint = st.peers->forget(msg.source);
    if (endpoint.empty())
      return;
    ++st.stats.peers_down;
    for (const auto& c : st.table->contacts())
      if (c.info.endpoint == endpoint) {
        st.table->remove(c.info.id);
        st.log->debug("peer {} at {} is down ({}), removed", short_hex(c.info.id), endpoint,
                      describe(msg.reason));
      }
    st.rejoin_if_alone();
  });
  return {
    [self](dht_rpc_atom, payload& in) -> payload {
      return self->state.serve(in, caller_identity(self));
    },
    [self](dht_start_atom, const std::string& endpoint) -> caf::result<uint32_t> {
      auto& st = self->state;
      if (st.started)
        return static_cast<uint32_t>(st.table->size());
      st.started = true;
      st.me.endpoint = endpoint;
      if (st.directory)
        st.directory->put(endpoint, caf::actor_cast<node_actor>(self));
      st.log->info("node {} starts at {}", short_hex(st.me.id), endpoint);
      auto rp = self->make_response_promise<uint32_t>();
      st.joined = [rp](uint32_t contacts) mutable { rp.deliver(contacts); };
      st.bootstrap();
      self->delayed_send(self, jittered(st.options.refresh_interval, st.rng), refresh_tick::value);
      self->delayed_send(self, jittered(st.options.replication_interval, st.rng),
                         replicate_tick::value);
      return rp;
    },
    [self](dht_store_atom, const std::string& key, std::string& subkey, std::string& value,
           double expiration) -> caf::result<uint32_t, uint32_t, uint32_t> {
      auto& st = self->state;
      auto from = caller_identity(self);
      if (auto refused = st.take_access(from))
        return refused;
      item x{std::move(subkey), std::move(value), expiration};
      if (auto err = st.store->validate(key_id(key), x, st.now()))
        return err;
      return st.store_everywhere(key, std::move(x), self, from);
    },
    [self](dht_declare_atom, const std::string& key, const std::string& label, std::string& value,
           double expiration) -> caf::result<uint32_t, uint32_t, uint32_t> {
      auto& st = self->state;
      // This node signs as itself only for its own process's actors.
      auto sender = self->current_sender();
      if (!sender || sender->node() != self->node())
        return make_error(errc::forbidden, "only actors of this node may declare under its key");
      auto id = key_id(key);
      auto x = owned_item(*st.signer, id, label, std::move(value), expiration);
      if (auto err = st.store->validate(id, x, st.now()))
        return err;
      return st.store_everywhere(key, std::move(x), self, {});
    },
    [self](dht_get_atom, const std::string& key) -> caf::result<payload, uint32_t, uint32_t> {
      auto& st = self->state;
      if (auto refused = st.take_access(caller_identity(self)))
        return refused;
      auto rp = self->make_response_promise<payload, uint32_t, uint32_t>();
      auto id = key_id(key);
      st.find(id, true, [self, rp, id](lookup_run& run) mutable {
        auto& st = self->state;
        merge_newest(run.items, st.store->get(id, st.now()));
        find_value_result found;
        for (auto& entry : run.items)
          found.items.push_back(std::move(entry.second));
        rp.deliver(encode(response{st.me, std::move(found)}),
                   static_cast<uint32_t>(run.search.rounds()),
                   static_cast<uint32_t>(run.search.requests()));
      });
      return rp;
    },
    [self](dht_info_atom) { return self->state.summary(); },
    [self](stats_atom) { return stats_of(self->state); },
    [self](dht_replicate_atom) -> caf::result<uint32_t> {
      // A whole replication pass on demand: for this process only (tests, tools).
      if (auto sender = self->current_sender(); !sender || sender->node() != self->node())
        return make_error(errc::forbidden, "replication runs on demand for this node only");
      auto rp = self->make_response_promise<uint32_t>();
      self->state.replicate_all(true, [rp](uint32_t keys) mutable { rp.deliver(keys); });
      return rp;
    },
    [self](dht_prove_atom, const std::string& endpoint,
           const std::string& public_key) -> caf::result<bool> {
      // It dials: for this process's routers only (a peer could make it dial anywhere).
      if (auto sender = self->current_sender(); !sender || sender->node() != self->node())
        return make_error(errc::forbidden, "endpoint proofs run for this node only");
      if (public_key.size() != public_key_bytes)
        return make_error(errc::invalid_argument, "a public key has "
                                                    + std::to_string(public_key_bytes) + " bytes");
      // Declarations name endpoints anyone chose: dials for proofs are bounded as ping-backs are
      // (claim_checks.hpp); one deferred is asked again at a later lookup.
      auto& st = self->state;
      auto verdict = st.proofs.begin(endpoint, st.now());
      if (verdict == claim_checks::verdict::failed_lately)
        return false;
      if (verdict != claim_checks::verdict::start)
        return make_error(errc::overloaded, "not dialing " + log::escaped(endpoint, 64)
                                              + " for a proof now: " + explain(verdict));
      auto rp = self->make_response_promise<bool>();
      // call() checks the answer's id against the key's and the nonce's signature.
      st.call(
        node_info{node_id_of(public_key), endpoint}, ping_request{},
        [self, rp, endpoint, public_key](response& resp) mutable {
          self->state.proofs.end(endpoint, true, self->state.now());
          rp.deliver(resp.responder.endpoint == endpoint && resp.responder.public_key == public_key);
        },
        [self, rp, endpoint](const caf::error& err) mutable {
          auto code = code_of(err);
          self->state.proofs.end(endpoint, code != errc::unavailable && code != errc::timeout,
                                 self->state.now());
          rp.deliver(false);
        });
      return rp;
    },
    [self](refresh_tick) {
      auto& st = self->state;
      st.refresh_buckets();
      self->delayed_send(self, jittered(st.options.refresh_interval, st.rng), refresh_tick::value);
    },
    [self](replicate_tick) {
      auto& st = self->state;
      st.replicate_all(false, [](uint32_t) {});
      self->delayed_send(self, jittered(st.options.replication_interval, st.rng),
                         replicate_tick::value);
    },
    [self](bootstrap_tick) {
      self->state.bootstrap_scheduled = false;
      self->state.bootstrap();
    },
  };
}

}  // namespace

double wall_clock() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

node_actor spawn_node(caf::actor_system& system, node_setup setup) {
  return system.spawn(node_behavior, std::move(setup));
}

void node_state::init(node_stateful* self_ptr, node_setup setup) {
  self = self_ptr;
  options = setup.options;
  codec.wire = setup.limits;
  codec.max_value_bytes = options.max_value_bytes;
  clock = setup.clock ? std::move(setup.clock) : std::function<double()>{wall_clock};
  rng.seed(setup.seed != 0 ? setup.seed : std::random_device{}());
  signer = setup.signer ? std::move(setup.signer) : identity::generate();
  me.id = node_id_of(signer->public_key());
  me.public_key = signer->public_key();
  log = log::get(setup.name);
  table.emplace(me.id, options.k);
  storage_limits limits;
  limits.max_entries = options.max_entries;
  limits.max_subkeys = options.max_subkeys;
  limits.max_key_bytes = options.max_key_bytes;
  limits.max_stored_bytes = options.max_stored_mb << 20;
  limits.max_peer_bytes = options.max_peer_stored_mb << 20;
  limits.max_value_bytes = options.max_value_bytes;
  limits.max_ttl = std::chrono::duration<double>(options.max_ttl).count();
  limits.max_owned_ttl = std::chrono::duration<double>(options.max_owned_ttl).count();
  limits.max_subkey_bytes = codec.max_subkey_bytes;
  store.emplace(limits);
  directory = std::move(setup.directory);
  peers.emplace(self, directory, options.request_timeout,
                self->system().message_types<rpc_actor>());
  access = peer_rates{options.peer_access_rate, options.peer_access_burst};
}

caf::error node_state::take_access(const std::string& from) {
  if (from.empty() || access.take(from, now()))
    return caf::none;
  ++stats.access_refused;
  warnings.warn(*log, "access refused", {},
                "refused a lookup or store for " + from + ": more than "
                  + fmt::format("{:g}", options.peer_access_rate)
                  + " per second (dht.peer-access-rate)");
  return make_error(errc::overloaded, fmt::format("more than {:g} lookups and stores per second "
                                                  "from this peer (dht.peer-access-rate)",
                                                  options.peer_access_rate));
}

caf::typed_response_promise<uint32_t, uint32_t, uint32_t>
node_state::store_everywhere(const std::string& key, item x, node_stateful* actor,
                             const std::string& from) {
  auto rp = actor->make_response_promise<uint32_t, uint32_t, uint32_t>();
  replicate_key(
    key_id(key), {std::move(x)},
    [rp, key](uint32_t stored, size_t rounds, size_t requests) mutable {
      if (stored == 0)
        rp.deliver(make_error(errc::unavailable, "no DHT node stored '" + key + "'"));
      else
        rp.deliver(stored, static_cast<uint32_t>(rounds), static_cast<uint32_t>(requests));
    },
    from);
  return rp;
}

void node_state::report_joined() {
  if (joined) {
    joined(static_cast<uint32_t>(table->size()));
    joined = nullptr;
  }
}

void node_state::bootstrap() {
  if (options.bootstrap.empty() || table->size() > 0) {
    if (table->size() == 0)
      return report_joined();  // the first node of a network
    find(me.id, false, [this](lookup_run&) { report_joined(); });
    return;
  }
  ++bootstrap_attempts;
  auto pending = std::make_shared<size_t>(options.bootstrap.size());
  auto after_ping = [this, pending] {
    if (--*pending > 0)
      return;
    if (table->size() > 0) {
      log->info("joined through {} bootstrap peer(s)", table->size());
      find(me.id, false, [this](lookup_run&) {
        log->debug("self-lookup done, {} contacts", table->size());
        report_joined();
      });
      return;
    }
    auto delay = std::min<caf::timespan>(first_bootstrap_retry * (1 << std::min<size_t>(bootstrap_attempts, 5)),
                                         max_bootstrap_retry);
    log->warn("no bootstrap peer answered (attempt {}), retrying in {} ms", bootstrap_attempts,
              std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
    report_joined();  // the caller learns it has no contacts yet; retries go on
    bootstrap_scheduled = true;
    self->delayed_send(self, delay, bootstrap_tick::value);
  };
  for (const auto& endpoint : options.bootstrap) {
    if (endpoint == me.endpoint) {
      after_ping();
      continue;
    }
    node_info peer{id160{}, endpoint};
    call(peer, ping_request{}, [after_ping](response&) { after_ping(); },
         [this, endpoint, after_ping](const caf::error& err) {
           log->debug("bootstrap peer {} did not answer: {}", endpoint, describe(err));
           after_ping();
         });
  }
}

void node_state::rejoin_if_alone() {
  if (!started || table->size() > 0 || options.bootstrap.empty() || bootstrap_scheduled)
    return;
  log->warn("lost every DHT contact; joining again through the bootstrap peers");
  bootstrap_attempts = 0;
  bootstrap_scheduled = true;
  self->delayed_send(self, first_bootstrap_retry, bootstrap_tick::value);
}

void node_state::refresh_buckets() {
  auto idle = table->idle_buckets(now(), std::chrono::duration<double>(options.refresh_interval)
                                           .count());
  for (auto index : idle)
    if (table->bucket_size(index) > 0 || index + 1 == table->bucket_count())
      find(table->random_id_in_bucket(index, rng), false, [](lookup_run&) {});
}

void node_state::replicate_all(bool force, std::function<void(uint32_t)> done) {
  auto t = now();
  auto dropped = store->expire(t);
  if (dropped > 0)
    log->debug("dropped {} expired items", dropped);
  auto period = std::chrono::duration<double>(options.replication_interval).count();
  std::vector<id160> due;
  for (const auto& key : store->keys()) {
    // A peer that stored this key to us recently did this round's work for it.
    auto i = replicated_at.find(key);
    if (!force && i != replicated_at.end() && t - i->second < period / 2)
      continue;
    replicated_at[key] = t;
    due.push_back(key);
  }
  auto keys = due.size();
  auto remaining = std::make_shared<size_t>(keys);
  if (keys == 0)
    done(0);
  for (const auto& key : due)
    replicate_key(key, store->get(key, t), [remaining, done, keys](uint32_t, size_t, size_t) {
      if (--*remaining == 0)
        done(static_cast<uint32_t>(keys));
    });
  for (auto i = replicated_at.begin(); i != replicated_at.end();)
    i = t - i->second > 4 * period ? replicated_at.erase(i) : std::next(i);
  if (keys > 0)
    log->debug("replicating {} keys", keys);
}

std::string node_state::summary() const {
  return fmt::format(
    "node {} at {}: {} contacts in {} buckets, {} items under {} keys, {} peers connected; "
    "served {} requests ({} bad), sent {} ({} failed), {} lookups, {} peers seen down",
    to_hex(me.id), me.endpoint.empty() ? "(not started)" : me.endpoint, table->size(),
    table->bucket_count(), store->size(), store->key_count(), peers->size(),
    stats.requests_served, stats.bad_requests, stats.requests_sent, stats.requests_failed,
    stats.lookups, stats.peers_down);
}

}  // namespace dmoe::dht
