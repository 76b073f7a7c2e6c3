#include "actors/server/expert_actor.hpp"

#include <optional>
#include <unordered_map>

#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/guard/control_guard.hpp"
#include "messages/type_ids.hpp"
#include "runtime/experts/batch_queue.hpp"
#include "runtime/experts/request_check.hpp"
#include "runtime/experts/tensor_batch.hpp"
#include "runtime/logging.hpp"

namespace dmoe {

namespace {

using batch_tick_atom = caf::atom_constant<caf::atom("batch_tick")>;
using batch_reply_atom = caf::atom_constant<caf::atom("batch_rep")>;
using batch_done_atom = caf::atom_constant<caf::atom("batch_done")>;

enum class call_kind { forward, backward };

struct queued_call {
  caf::typed_response_promise<payload> promise;
  std::vector<torch::Tensor> inputs;
  std::vector<torch::Tensor> grad_outputs;  // backward only
};

using call_queue = batch_queue<queued_call>;

struct expert_state {
  expert_actor_setup setup;
  std::shared_ptr<spdlog::logger> log;
  call_queue forward_calls{1, {}};
  call_queue backward_calls{1, {}};
  bool busy = false;
  bool timer_armed = false;
  uint64_t next_ticket = 1;
  std::unordered_map<uint64_t, caf::typed_response_promise<payload>> in_flight;
  static inline const char* name = "dmoe.expert";
};

using expert_impl = expert_actor::extend<caf::reacts_to<batch_tick_atom>,
                                         caf::reacts_to<batch_reply_atom, uint64_t, payload>,
                                         caf::reacts_to<batch_done_atom>>;
using expert_stateful = expert_impl::stateful_base<expert_state>;

// Runs on a compute thread: merge, compute, split, encode; replies go back to `owner`.
void compute_batch(const std::shared_ptr<expert_backend>& backend, expert_counters& counters,
                   call_kind kind, std::vector<call_queue::entry>& calls,
                   const std::vector<uint64_t>& tickets, const expert_impl& owner,
                   wire::Compression compression) {
  std::vector<const std::vector<torch::Tensor>*> inputs;
  std::vector<const std::vector<torch::Tensor>*> grads;
  std::vector<int64_t> sizes;
  for (auto& c : calls) {
    inputs.push_back(&c.item.inputs);
    grads.push_back(&c.item.grad_outputs);
    sizes.push_back(static_cast<int64_t>(c.samples));
  }
  auto now = expert_backend::clock::now();
  auto result = kind == call_kind::forward ? backend->forward(inputs, now)
                                           : backend->backward(inputs, grads, now);
  calls.clear();  // let the requests go before replying (kept activations hold what they need)
  if (!result) {
    counters.errors += tickets.size();
    auto reply = encode(expert_reply{result.error()});
    for (auto ticket : tickets)
      caf::anon_send(owner, batch_reply_atom::value, ticket, reply);
  } else {
    auto pieces = split_calls(*result, sizes);
    for (size_t i = 0; i < tickets.size(); ++i) {
      auto reply = kind == call_kind::forward
                     ? encode(expert_reply{forward_result{std::move(pieces[i])}}, compression)
                     : encode(expert_reply{backward_result{std::move(pieces[i])}}, compression);
      caf::anon_send(owner, batch_reply_atom::value, tickets[i], std::move(reply));
    }
  }
}

void dispatch(expert_stateful* self);

void arm_timer(expert_stateful* self, call_queue::time_point deadline) {
  auto& st = self->state;
  if (st.timer_armed)
    return;
  st.timer_armed = true;
  auto delay = std::max(deadline - call_queue::clock::now(), call_queue::clock::duration{0});
  self->delayed_send(self, delay, batch_tick_atom::value);
}

// Starts the next batch when the expert is idle and a queue is ready; else waits for the
// oldest call's deadline.
void dispatch(expert_stateful* self) {
  auto& st = self->state;
  if (st.busy)
    return;
  auto now = call_queue::clock::now();
  call_queue* chosen = nullptr;
  for (auto* q : {&st.forward_calls, &st.backward_calls})
    if (q->ready(now) && (!chosen || q->deadline() < chosen->deadline()))
      chosen = q;
  if (!chosen) {
    std::optional<call_queue::time_point> earliest;
    for (auto* q : {&st.forward_calls, &st.backward_calls})
      if (!q->empty() && (!earliest || q->deadline() < *earliest))
        earliest = q->deadline();
    if (earliest)
      arm_timer(self, *earliest);
    return;
  }
  auto kind = chosen == &st.forward_calls ? call_kind::forward : call_kind::backward;
  auto calls = chosen->take();
  std::vector<uint64_t> tickets;
  uint64_t samples = 0;
  for (auto& c : calls) {
    auto ticket = st.next_ticket++;
    st.in_flight.emplace(ticket, std::move(c.item.promise));
    tickets.push_back(ticket);
    samples += c.samples;
  }
  st.setup.counters->queued -= calls.size();
  st.setup.counters->note_batch(calls.size(), samples);
  st.busy = true;
  auto shared_calls = std::make_shared<std::vector<call_queue::entry>>(std::move(calls));
  st.setup.pool->post([backend = st.setup.backend, counters = st.setup.counters, log = st.log,
                       kind, shared_calls, tickets, owner = caf::actor_cast<expert_impl>(self),
                       compression = st.setup.compression] {
    try {
      compute_batch(backend, *counters, kind, *shared_calls, tickets, owner, compression);
    } catch (const std::exception& e) {
      log->error("expert {}: batch failed: {}", backend->info().expert_id, e.what());
    }
    caf::anon_send(owner, batch_done_atom::value);  // always, or the expert would stay busy
  });
}

void enqueue(expert_stateful* self, call_queue& queue, queued_call call, uint64_t lane) {
  auto samples = static_cast<size_t>(batch_size_of(call.inputs));
  auto key = merge_key(call.inputs, call.grad_outputs);
  queue.push(std::move(call), samples, std::move(key), call_queue::clock::now(), lane);
  self->state.setup.counters->queued += 1;
  dispatch(self);
}

expert_impl::behavior_type expert_behavior(expert_stateful* self, expert_actor_setup setup) {
  auto& st = self->state;
  st.forward_calls = call_queue{setup.max_batch_size, setup.max_batch_wait, setup.adaptive_wait};
  st.backward_calls = call_queue{setup.max_batch_size, setup.max_batch_wait, setup.adaptive_wait};
  st.log = log::get(setup.log_name);
  guard_control(self, st.log);
  st.setup = std::move(setup);
  return {
    [=](expert_rpc_atom, forward_call& call, uint64_t lane) -> caf::result<payload> {
      auto promise = self->make_response_promise<payload>();
      enqueue(self, self->state.forward_calls, queued_call{promise, std::move(call.inputs), {}},
              lane);
      return promise;
    },
    [=](expert_rpc_atom, backward_call& call, uint64_t lane) -> caf::result<payload> {
      auto promise = self->make_response_promise<payload>();
      enqueue(self, self->state.backward_calls,
              queued_call{promise, std::move(call.inputs), std::move(call.grad_outputs)}, lane);
      return promise;
    },
    [=](batch_tick_atom) {
      self->state.timer_armed = false;
      dispatch(self);
    },
    [=](batch_reply_atom, uint64_t ticket, payload& reply) {
      auto& st = self->state;
      auto i = st.in_flight.find(ticket);
      if (i == st.in_flight.end())
        return;
      i->second.deliver(std::move(reply));
      st.in_flight.erase(i);
    },
    [=](batch_done_atom) {
      auto& st = self->state;
      // Tickets not answered by now belong to a batch whose job died; they must not hang.
      if (!st.in_flight.empty()) {
        st.setup.counters->errors += st.in_flight.size();
        st.log->error("expert {}: {} calls of a batch got no result", st.setup.backend->info().expert_id,
                      st.in_flight.size());
        for (auto& kv : st.in_flight)
          kv.second.deliver(encode(expert_reply{make_error(errc::internal, "batch lost")}));
        st.in_flight.clear();
      }
      st.busy = false;
      dispatch(self);
    },
  };
}

}  // namespace

expert_actor spawn_expert_actor(caf::local_actor* parent, expert_actor_setup setup) {
  return parent->spawn<caf::linked>(expert_behavior, std::move(setup));
}

}  // namespace dmoe
