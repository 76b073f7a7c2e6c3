#include "actors/server/server.hpp"

#include <map>
#include <random>
#include <unordered_map>
#include <variant>

#include <caf/config_value.hpp>
#include <caf/send.hpp>
#include <caf/settings.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/dht/node.hpp"
#include "actors/guard/control_guard.hpp"
#include "actors/server/expert_actor.hpp"
#include "actors/server/peer_admission.hpp"
#include "actors/server/server_experts.hpp"
#include "messages/type_ids.hpp"
#include "runtime/experts/request_check.hpp"
#include "runtime/tensor_codec.hpp"
#include "runtime/logging.hpp"
#include "runtime/wire_guard.hpp"

namespace dmoe {

namespace {

using declare_tick_atom = caf::atom_constant<caf::atom("decl_tick")>;
using checkpoint_tick_atom = caf::atom_constant<caf::atom("ckpt_tick")>;
using checkpoint_done_atom = caf::atom_constant<caf::atom("ckpt_done")>;

// A DHT store is one iterative lookup plus stores; slower than this means the DHT is in trouble
// and the next declaration round will try again anyway.
constexpr auto declare_store_timeout = std::chrono::seconds(10);

struct hosted_actor {
  hosted_expert expert;
  expert_actor actor;
};

struct round_counters {
  uint64_t rounds = 0;
  uint64_t ok = 0;
  uint64_t failed = 0;
  double last_round_ms = 0;
};

/// One declaration round in progress: it ends with the outcome of its last store.
struct declare_round {
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  size_t remaining = 0;
};

struct server_state {
  server_setup setup;
  std::shared_ptr<spdlog::logger> log;
  std::shared_ptr<compute_pool> pool;
  std::map<std::string, hosted_actor> experts;
  std::vector<declaration_entry> declarations;
  bool stopping = false;
  uint64_t rejected = 0;
  std::mt19937_64 fault_rng;      // draws the calls options.fail_rate fails on purpose
  uint64_t injected_failures = 0;
  peer_admission admission;
  round_counters declare;
  uint64_t declare_round_failures = 0;  // of the round in progress
  round_counters checkpoints;
  uint64_t next_checkpoint_round = 1;
  std::unordered_map<uint64_t, caf::typed_response_promise<uint32_t>> checkpoint_waiters;
  static inline const char* name = "dmoe.server";
};

using server_impl =
  server_actor::extend<caf::reacts_to<declare_tick_atom>, caf::reacts_to<checkpoint_tick_atom>,
                       caf::reacts_to<checkpoint_done_atom, uint64_t, uint32_t, uint32_t, uint64_t, double>>;
using server_stateful = server_impl::stateful_base<server_state>;

admission_limits admission_limits_of(const server_options& o) {
  constexpr uint64_t mib = 1024 * 1024;
  admission_limits l;
  l.request_rate = o.peer_request_rate;
  l.request_burst = o.peer_request_burst;
  l.max_in_flight = o.peer_max_in_flight;
  l.max_expert_bytes = o.peer_max_expert_mb * mib;
  l.max_peer_bytes = o.peer_max_queued_mb * mib;
  l.max_total_bytes = o.max_queued_mb * mib;
  l.update_rate = o.peer_update_rate;
  l.update_burst = o.peer_update_burst;
  l.max_nodes_per_peer = o.peer_nodes;
  return l;
}

// The encoded size of the largest valid call to a hosted expert: its tensors plus the framing
// (ids, shapes, Cap'n Proto's pointers), which never comes near this margin.
uint64_t largest_call_bytes(const server_state& st, const server_options& o) {
  constexpr uint64_t framing_margin = 64 << 10;
  uint64_t largest = 0;
  for (const auto& kv : st.experts)
    largest = std::max(largest, max_call_tensor_bytes(kv.second.expert.backend->info(),
                                                      o.max_batch_size, o.max_tokens));
  return largest + framing_margin;
}

payload error_reply(errc code, std::string message) {
  return encode(expert_reply{make_error(code, std::move(message))});
}

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// Who a call is charged to: what the node it came from cannot choose (its certificate's
/// member name with TLS, else its address: runtime/peer_identity.hpp), "" for a caller in this
/// process (trusted: the node's own trainers are not limited).
// Hands a checked call to its expert's actor, in its peer's lane (this process's own calls
// share lane 0); the admission ticket is released with the reply.
template <class Call>
caf::result<payload> pass_to_expert(server_stateful* self, const expert_actor& expert, Call call,
                                    std::optional<admission_ticket> ticket) {
  auto promise = self->make_response_promise<payload>();
  auto release = [self, ticket] {
    if (ticket)
      self->state.admission.release(*ticket);
  };
  auto lane = ticket ? std::hash<std::string>{}(ticket->peer) : uint64_t{0};
  self->request(expert, caf::infinite, expert_rpc_atom::value, std::move(call), uint64_t{lane})
    .then(
      [=](payload& reply) mutable {
        release();
        promise.deliver(std::move(reply));
      },
      [=](caf::error& err) mutable {
        release();
        promise.deliver(error_reply(code_of(err), describe(err)));
      });
  return promise;
}

/// A call from `peer` (caller_identity; "" is this process), sent by node `node`.
caf::result<payload> serve(server_stateful* self, payload& request, const std::string& peer,
                           const std::string& node) {
  auto& st = self->state;
  auto now = seconds_now();
  auto request_bytes = static_cast<uint64_t>(request.bytes.size());
  if (!peer.empty())
    if (auto refused = st.admission.take_request(peer, request_bytes, now, node))
      return encode(expert_reply{refused});
  auto call = decode_expert_call(std::move(request), st.setup.limits);
  if (!call) {
    ++st.rejected;
    return encode(expert_reply{call.error()});
  }
  auto id = std::visit([](const auto& c) { return c.expert_id; }, *call);
  auto i = st.experts.find(id);
  if (i == st.experts.end()) {
    ++st.rejected;
    return error_reply(errc::unknown_expert, "this server hosts no expert '" + id + "'");
  }
  auto& hosted = i->second;
  auto& counters = *hosted.expert.counters;
  const auto& info = hosted.expert.backend->info();
  ++counters.requests;
  auto max_batch = st.setup.options.max_batch_size;
  caf::error invalid;
  uint64_t backward_samples = 0;
  auto max_tokens = st.setup.options.max_tokens;
  if (auto* fwd = std::get_if<forward_call>(&*call)) {
    invalid = check_forward(info, fwd->inputs, max_batch, max_tokens);
  } else if (auto* bwd = std::get_if<backward_call>(&*call)) {
    invalid = check_backward(info, bwd->inputs, bwd->grad_outputs, max_batch, max_tokens);
    backward_samples = invalid ? 0 : static_cast<uint64_t>(batch_size_of(bwd->inputs));
  } else {
    auto answer = info;
    answer.max_batch_size = max_batch;
    return encode(expert_reply{std::move(answer)});
  }
  if (invalid) {
    ++counters.errors;
    return encode(expert_reply{invalid});
  }
  auto fail_rate = st.setup.options.fail_rate;
  if (fail_rate > 0 && std::uniform_real_distribution<double>{}(st.fault_rng) < fail_rate) {
    ++st.injected_failures;
    return error_reply(errc::unavailable, "injected failure (server.fail-rate)");
  }
  std::optional<admission_ticket> ticket;
  if (!peer.empty()) {
    ticket = admission_ticket{peer, id, request_bytes};
    if (auto refused = st.admission.admit(*ticket, backward_samples, now))
      return encode(expert_reply{refused});
  }
  if (auto* fwd = std::get_if<forward_call>(&*call))
    return pass_to_expert(self, hosted.actor, std::move(*fwd), std::move(ticket));
  return pass_to_expert(self, hosted.actor, std::move(std::get<backward_call>(*call)),
                        std::move(ticket));
}

struct checkpoint_progress {
  std::atomic<size_t> remaining;
  std::atomic<uint32_t> saved{0};
  std::atomic<uint32_t> failed{0};
  std::atomic<uint64_t> updates{0};  // of the experts saved
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  explicit checkpoint_progress(size_t n) : remaining(n) {
  }
};

// Posts one save job per expert (so compute batches interleave with them); the last job to end
// reports the round.
void start_checkpoint(server_stateful* self, std::optional<caf::typed_response_promise<uint32_t>> waiter) {
  auto& st = self->state;
  const auto& dir = st.setup.options.checkpoint_dir;
  if (dir.empty() || st.experts.empty()) {
    if (waiter)
      waiter->deliver(uint32_t{0});
    return;
  }
  auto round = st.next_checkpoint_round++;
  if (waiter)
    st.checkpoint_waiters.emplace(round, std::move(*waiter));
  auto progress = std::make_shared<checkpoint_progress>(st.experts.size());
  for (auto& kv : st.experts) {
    st.pool->post([backend = kv.second.expert.backend, path = checkpoint_path(dir, kv.first),
                   progress, round, log = st.log, owner = caf::actor_cast<server_impl>(self)] {
      uint64_t updates = 0;
      if (auto err = backend->save(path, &updates)) {
        log->error("{}", describe(err));
        ++progress->failed;
      } else {
        ++progress->saved;
        progress->updates += updates;
      }
      if (--progress->remaining == 0)
        caf::anon_send(owner, checkpoint_done_atom::value, round, progress->saved.load(),
                       progress->failed.load(), progress->updates.load(),
                       std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now()
                                                                 - progress->started)
                         .count());
    });
  }
}

void declare_all(server_stateful* self) {
  auto& st = self->state;
  if (st.declare_round_failures > 0)
    st.log->warn("{} of {} declarations of the last round failed", st.declare_round_failures,
                 st.declarations.size());
  st.declare_round_failures = 0;
  ++st.declare.rounds;
  auto ttl = std::chrono::duration<double>(st.setup.options.declare_ttl).count();
  auto expiration = dht::wall_clock() + ttl;
  auto round = std::make_shared<declare_round>();
  round->remaining = st.declarations.size();
  auto one_done = [self, round] {
    if (--round->remaining == 0)
      self->state.declare.last_round_ms = std::chrono::duration<double, std::milli>(
                                            std::chrono::steady_clock::now() - round->started)
                                            .count();
  };
  for (const auto& entry : st.declarations) {
    self->request(st.setup.dht, declare_store_timeout, dht::dht_declare_atom::value, entry.key,
                  entry.label, entry.value, expiration)
      .then(
        [=](uint32_t, uint32_t, uint32_t) {
          ++self->state.declare.ok;
          one_done();
        },
        [=](caf::error& err) {
          auto& st = self->state;
          ++st.declare.failed;
          if (st.declare_round_failures++ == 0)
            st.log->warn("declaring the experts under '{}' failed: {}", entry.key, describe(err));
          one_done();
        });
  }
}

server_stats stats_of(server_stateful* self) {
  auto& st = self->state;
  server_stats out;
  out.endpoint = st.setup.endpoint;
  out.rejected = static_cast<int64_t>(st.rejected);
  out.injected_failures = static_cast<int64_t>(st.injected_failures);
  const auto& admitted = st.admission.counters();
  out.overloaded = {static_cast<int64_t>(admitted.over_rate),
                    static_cast<int64_t>(admitted.over_in_flight),
                    static_cast<int64_t>(admitted.over_bytes),
                    static_cast<int64_t>(admitted.over_updates)};
  out.queued_bytes = static_cast<int64_t>(st.admission.queued_bytes());
  out.peers = static_cast<int64_t>(st.admission.peers());
  auto rounds = [](const round_counters& c) {
    return round_stats{static_cast<int64_t>(c.rounds), static_cast<int64_t>(c.ok),
                       static_cast<int64_t>(c.failed), c.last_round_ms};
  };
  out.declare = rounds(st.declare);
  out.checkpoints = rounds(st.checkpoints);
  for (auto& kv : st.experts) {
    const auto& c = *kv.second.expert.counters;
    const auto& backend = *kv.second.expert.backend;
    const auto& kept = backend.activations();
    auto batches = c.batches.load();
    hosted_expert_stats e;
    e.id = kv.first;
    e.type = backend.info().expert_type;
    e.requests = static_cast<int64_t>(c.requests.load());
    e.samples = static_cast<int64_t>(c.samples.load());
    e.batches = static_cast<int64_t>(batches);
    e.mean_batch = batches ? static_cast<double>(c.samples.load()) / batches : 0.0;
    e.mean_callers = batches ? static_cast<double>(c.batched_calls.load()) / batches : 0.0;
    e.max_merged_callers = static_cast<int64_t>(c.max_merged_callers.load());
    e.queue = static_cast<int64_t>(c.queued.load());
    e.errors = static_cast<int64_t>(c.errors.load());
    e.updates = static_cast<int64_t>(backend.updates());
    e.pending_samples = static_cast<int64_t>(backend.pending_samples());
    e.clipped_updates = static_cast<int64_t>(backend.clipped_updates());
    e.activations_kept = static_cast<int64_t>(kept.kept.load());
    e.activations_used = static_cast<int64_t>(kept.used.load());
    e.recomputed = static_cast<int64_t>(kept.recomputed.load());
    e.activations_evicted = static_cast<int64_t>(kept.evicted.load() + kept.expired.load());
    e.activation_bytes = static_cast<int64_t>(kept.bytes.load());
    out.experts.push_back(std::move(e));
  }
  return out;
}

server_impl::behavior_type server_behavior(server_stateful* self, server_setup setup,
                                           std::vector<hosted_expert> experts) {
  auto& st = self->state;
  st.log = log::get(setup.name);
  guard_control(self, st.log);
  st.pool = std::make_shared<compute_pool>(setup.options.compute_threads,
                                           setup.options.torch_threads, setup.name);
  std::vector<std::string> ids;
  std::vector<expert_actor> actors;
  for (auto& expert : experts) {
    auto id = expert.backend->info().expert_id;
    expert_actor_setup expert_setup{setup.name,
                                    expert.backend,
                                    st.pool,
                                    expert.counters,
                                    setup.options.max_batch_size,
                                    setup.options.max_batch_wait,
                                    setup.options.adaptive_wait,
                                    wire_compression(setup.options.compression)};
    auto actor = spawn_expert_actor(self, std::move(expert_setup));
    actors.push_back(actor);
    ids.push_back(id);
    st.experts.emplace(id, hosted_actor{std::move(expert), actor});
  }
  // Links carry only abnormal exits; a server that ends normally must still end its experts.
  self->attach_functor([actors](const caf::error&) {
    for (auto& a : actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  });
  if (setup.dht && !setup.endpoint.empty()) {
    st.declarations = declaration_entries(
      ids, setup.endpoint,
      static_cast<uint32_t>(std::min<size_t>(setup.options.max_batch_size, UINT32_MAX)));
    self->send(self, declare_tick_atom::value);
  } else if (setup.dht) {
    st.log->warn("no endpoint given: experts are not declared in the DHT");
  }
  if (!setup.options.checkpoint_dir.empty())
    self->delayed_send(self, setup.options.checkpoint_period, checkpoint_tick_atom::value);
  st.log->info("serving {} {} experts (hidden {}) from {}", ids.size(), setup.options.expert_type,
               setup.options.hidden, setup.endpoint.empty() ? "(no endpoint)" : setup.endpoint);
  if (setup.options.fail_rate > 0)
    st.log->warn("fault injection on: {:.1f}% of forward and backward calls fail on purpose "
                 "(server.fail-rate)", setup.options.fail_rate * 100);
  auto largest_call = largest_call_bytes(st, setup.options);
  if (largest_call < setup.limits.max_message_bytes) {
    st.log->info("largest valid call {:.1f} MiB: messages above that are refused",
                 static_cast<double>(largest_call) / (1 << 20));
    setup.limits.max_message_bytes = largest_call;
  }
  st.fault_rng.seed(server_seed(setup.options, setup.name) ^ 0x6661696cULL);
  st.admission = peer_admission{admission_limits_of(setup.options)};
  st.setup = std::move(setup);
  return {
    [=](expert_rpc_atom, payload& request) -> caf::result<payload> {
      auto sender = self->current_sender();
      auto node = sender ? caf::to_string(sender->node()) : std::string{};
      try {
        return serve(self, request, caller_identity(self), node);
      } catch (const std::exception& e) {
        return error_reply(errc::internal, e.what());
      }
    },
    [=](expert_rpc_atom, payload& request, const caf::node_id& origin) -> caf::result<payload> {
      auto sender = self->current_sender();
      if (!sender || sender->node() != self->node())
        return error_reply(errc::forbidden, "only this node's gateway may name a call's origin");
      try {
        return serve(self, request, caller_identity(self, origin), caf::to_string(origin));
      } catch (const std::exception& e) {
        return error_reply(errc::internal, e.what());
      }
    },
    [=](stats_atom) { return stats_of(self); },
    [=](server_checkpoint_atom) -> caf::result<uint32_t> {
      auto promise = self->make_response_promise<uint32_t>();
      start_checkpoint(self, promise);
      return promise;
    },
    [=](server_stop_atom) -> caf::result<uint32_t> {
      auto& st = self->state;
      if (!st.stopping)
        st.log->info("stopping: no more declarations, writing checkpoints");
      st.stopping = true;
      auto promise = self->make_response_promise<uint32_t>();
      start_checkpoint(self, promise);
      return promise;
    },
    [=](declare_tick_atom) {
      if (self->state.stopping)
        return;
      declare_all(self);
      self->delayed_send(self, self->state.setup.options.declare_period, declare_tick_atom::value);
    },
    [=](checkpoint_tick_atom) {
      if (self->state.stopping)
        return;
      start_checkpoint(self, std::nullopt);
      self->delayed_send(self, self->state.setup.options.checkpoint_period,
                         checkpoint_tick_atom::value);
    },
    [=](checkpoint_done_atom, uint64_t round, uint32_t saved, uint32_t failed,
        uint64_t updates, double took_ms) {
      auto& st = self->state;
      ++st.checkpoints.rounds;
      st.checkpoints.last_round_ms = took_ms;
      st.checkpoints.ok += saved;
      st.checkpoints.failed += failed;
      st.log->info("checkpoint round {}: {} saved, {} failed, {} updates in all", round, saved,
                   failed, updates);
      auto i = st.checkpoint_waiters.find(round);
      if (i != st.checkpoint_waiters.end()) {
        i->second.deliver(saved);
        st.checkpoint_waiters.erase(i);
      }
    },
  };
}

}  // namespace

caf::expected<server_actor> try_spawn_server(caf::actor_system& system, server_setup setup) {
  auto seed = server_seed(setup.options, setup.name);
  auto experts = build_hosted_experts(setup.options, seed);
  if (!experts)
    return experts.error();
  size_t restored = 0;
  uint64_t updates = 0;
  for (auto& e : *experts) {
    if (!e.set_aside.empty())
      log::get(setup.name)->warn("{}", e.set_aside);
    restored += e.restored ? 1 : 0;
    updates += e.backend->updates();
  }
  if (restored > 0)
    log::get(setup.name)->info("restored {} of {} experts from {}, {} updates in all", restored,
                               experts->size(), setup.options.checkpoint_dir, updates);
  return system.spawn(server_behavior, std::move(setup), std::move(*experts));
}

server_actor spawn_server(caf::actor_system& system, server_setup setup) {
  auto name = setup.name;
  auto server = try_spawn_server(system, std::move(setup));
  if (!server) {
    log::get(name)->error("cannot start the expert server: {}", describe(server.error()));
    return {};
  }
  return *server;
}

}  // namespace dmoe
