#include "apps/bench/wan_workloads.hpp"

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <torch/types.h>

#include "actors/gateway/parts_caller.hpp"
#include "actors/moe/remote_moe.hpp"
#include "actors/moe/router.hpp"
#include "messages/errors.hpp"
#include "messages/type_ids.hpp"
#include "runtime/expert_codec.hpp"
#include "runtime/tensor_codec.hpp"

namespace dmoe::bench {

namespace {

using clock_type = std::chrono::steady_clock;
using wan_call_atom = caf::atom_constant<caf::atom("wan_call")>;

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

/// One thread's step: returns the samples it processed; throws on failure.
using step_function = std::function<int64_t()>;

struct thread_result {
  double samples = 0;
  double seconds = 0;
  size_t steps = 0;
  size_t failed = 0;
  std::vector<double> step_ms;
  std::string first_error;
};

thread_result run_thread(const step_function& step, const measure_window& window,
                         clock_type::time_point started) {
  thread_result out;
  auto past_hard_limit = [&] { return clock_type::now() - started >= window.hard_limit; };
  auto one = [&](bool measured) {
    auto t = clock_type::now();
    try {
      auto samples = step();
      if (measured) {
        out.samples += static_cast<double>(samples);
        ++out.steps;
        out.step_ms.push_back(1000.0 * seconds_since(t));
      }
    } catch (const std::exception& e) {
      ++out.failed;
      if (out.first_error.empty())
        out.first_error = e.what();
    }
  };
  one(false);  // connections, DHT lookups, first allocations
  auto measured_from = clock_type::now();
  while (!past_hard_limit()
         && (out.steps < static_cast<size_t>(window.min_steps)
             || clock_type::now() - measured_from < window.min_time))
    one(true);
  out.seconds = seconds_since(measured_from);
  return out;
}

/// Runs `steps.size()` threads, each its own step function, over the window.
throughput measure(const std::vector<step_function>& steps, const measure_window& window) {
  std::vector<thread_result> results(steps.size());
  std::vector<std::thread> threads;
  auto started = clock_type::now();
  for (size_t i = 0; i < steps.size(); ++i)
    threads.emplace_back([&, i] { results[i] = run_thread(steps[i], window, started); });
  for (auto& t : threads)
    t.join();
  throughput out;
  std::vector<double> step_ms;
  for (auto& r : results) {
    if (r.seconds > 0)
      out.samples_per_s += r.samples / r.seconds;
    out.steps += r.steps;
    out.failed_steps += r.failed;
    step_ms.insert(step_ms.end(), r.step_ms.begin(), r.step_ms.end());
    if (out.first_error.empty())
      out.first_error = r.first_error;
  }
  std::sort(step_ms.begin(), step_ms.end());
  out.step_ms_median = step_ms.empty() ? 0 : step_ms[step_ms.size() / 2];
  return out;
}

// ---- DMoE ----

struct moe_stack {
  std::vector<RemoteMixtureOfExperts> layers;
};

moe_options options_of(const dmoe_workload& w) {
  moe_options opt;
  opt.expert_prefix = w.grid_name;
  opt.grid = w.grid;
  opt.k_best = w.k_best;
  opt.k_min = w.k_best;
  opt.backward_k_min = w.k_best;
  opt.forward_timeout = w.timeout;
  opt.backward_timeout = w.timeout;
  opt.directory_cache = std::chrono::seconds(10);
  opt.compression = w.compression;
  return opt;
}

throughput dmoe_threads(caf::actor_system& system, const moe::router_actor& router,
                        const dmoe_workload& w, const measure_window& window) {
  auto opt = options_of(w);
  std::vector<std::shared_ptr<moe_stack>> stacks;
  std::vector<step_function> steps;
  for (int t = 0; t < w.threads; ++t) {
    auto stack = std::make_shared<moe_stack>();
    for (int l = 0; l < w.layers; ++l)
      stack->layers.emplace_back(system, router, w.hidden, w.hidden, opt);
    stacks.push_back(stack);
    steps.emplace_back([stack, &w] {
      auto y = torch::randn({w.batch, w.hidden}).requires_grad_(true);
      for (auto& layer : stack->layers)
        y = layer->forward(y);
      y.pow(2).mean().backward();
      for (auto& layer : stack->layers)
        layer->zero_grad();
      return w.batch;
    });
  }
  return measure(steps, window);
}

// ---- model-parallel chain ----

/// Calls experts on other nodes in parts for the chain's threads: (wan_call_atom, gateway,
/// request) -> reply.
struct direct_caller_state {
  parts_caller caller{wire_limits{}};
  uint64_t next_call = 1;
};

caf::behavior direct_caller(caf::stateful_actor<direct_caller_state>* self,
                            caf::timespan timeout) {
  return {
    [=](wire_part_atom, uint64_t call, payload& part) {
      auto now = std::chrono::duration<double>(clock_type::now().time_since_epoch()).count();
      self->state.caller.part_arrived(caf::actor_cast<caf::actor_addr>(self->current_sender()),
                                      call, std::move(part), now);
    },
    [=](wan_call_atom, const gateway_actor& gateway, payload& request) -> caf::result<payload> {
      auto rp = self->make_response_promise<payload>();
      self->state.caller.call(self, gateway, self->state.next_call++, std::move(request), timeout,
                              [rp](caf::expected<payload> reply) mutable {
                                if (reply)
                                  rp.deliver(std::move(*reply));
                                else
                                  rp.deliver(reply.error());
                              });
      return rp;
    },
  };
}

expert_reply call_expert(caf::scoped_actor& self, const caf::actor& caller,
                         const gateway_actor& gateway, const expert_call& call,
                         const chain_workload& w) {
  payload reply;
  caf::error failure;
  self->request(caller, w.timeout + std::chrono::seconds(5), wan_call_atom::value, gateway,
                encode(call, wire_compression(w.compression)))
    .receive([&](payload& got) { reply = std::move(got); }, [&](caf::error& err) { failure = err; });
  if (failure)
    throw std::runtime_error(describe(failure));
  auto decoded = decode_expert_reply(std::move(reply));
  if (!decoded)
    throw std::runtime_error(describe(decoded.error()));
  if (auto* err = std::get_if<caf::error>(&*decoded))
    throw std::runtime_error(describe(*err));
  return std::move(*decoded);
}

int64_t chain_step(caf::actor_system& system, const caf::actor& caller, const chain_workload& w,
                   int64_t batch) {
  caf::scoped_actor self{system};
  std::vector<torch::Tensor> activations{torch::randn({batch, w.hidden})};
  for (size_t j = 0; j < w.block_ids.size(); ++j) {
    auto reply = call_expert(self, caller, w.gateways[j],
                             forward_call{w.block_ids[j], {activations.back()}}, w);
    activations.push_back(std::get<forward_result>(reply).outputs.at(0));
  }
  auto grad = 2.0 * activations.back() / static_cast<double>(activations.back().numel());
  for (size_t j = w.block_ids.size(); j-- > 0;) {
    auto reply = call_expert(self, caller, w.gateways[j],
                             backward_call{w.block_ids[j], {activations[j]}, {grad}}, w);
    grad = std::get<backward_result>(reply).grad_inputs.at(0);
  }
  return batch;
}

}  // namespace

throughput run_dmoe(caf::actor_system& system, const dht::router_dht_actor& dht,
                    const dmoe_workload& w,
                    const measure_window& window) {
  moe::router_setup rs;
  rs.name = "wan-bench/router";
  rs.options = options_of(w);
  rs.dht = dht;
  auto router = moe::spawn_router(system, rs);
  auto result = dmoe_threads(system, router, w, window);
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  caf::scoped_actor{system}->wait_for(router);
  return result;
}

throughput run_chain(caf::actor_system& system, const chain_workload& w,
                     const measure_window& window) {
  auto caller = system.spawn(direct_caller, caf::timespan{w.timeout});
  auto micro = std::max(1, w.micro_batches);
  std::vector<step_function> steps;
  for (int m = 0; m < micro; ++m)
    steps.emplace_back([&system, caller, &w, micro] {
      return chain_step(system, caller, w, w.batch / micro);
    });
  auto result = measure(steps, window);
  caf::anon_send_exit(caller, caf::exit_reason::user_shutdown);
  return result;
}

}  // namespace dmoe::bench
