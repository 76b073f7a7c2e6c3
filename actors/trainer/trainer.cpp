#include "actors/trainer/trainer.hpp"

#include <atomic>
#include <memory>
#include <thread>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/guard/control_guard.hpp"
#include "messages/type_ids.hpp"
#include "runtime/logging.hpp"

namespace dmoe {

namespace {

using trainer_done_atom = caf::atom_constant<caf::atom("tr_done")>;

struct trainer_state {
  std::shared_ptr<training_loop> loop;
  std::shared_ptr<std::atomic<bool>> stop = std::make_shared<std::atomic<bool>>(false);
  std::thread thread;
  std::vector<caf::typed_response_promise<trainer_metrics>> waiters;
  bool finished = false;
  std::function<void(const trainer_metrics&)> on_done;

  ~trainer_state() {
    *stop = true;
    if (thread.joinable())
      thread.join();  // the loop checks `stop` between steps
  }
};

using trainer_impl = trainer_actor::extend<caf::reacts_to<trainer_done_atom>>;
using trainer_stateful = trainer_impl::stateful_base<trainer_state>;

trainer_impl::behavior_type trainer(trainer_stateful* self, trainer_setup setup,
                      std::function<void(const trainer_metrics&)> on_done) {
  auto& st = self->state;
  st.on_done = std::move(on_done);
  guard_control(self, log::get(setup.name));
  st.loop = std::make_shared<training_loop>(self->system(), std::move(setup));
  st.thread = std::thread([loop = st.loop, stop = st.stop, me = caf::actor_cast<trainer_impl>(self)] {
    loop->run(*stop);
    caf::anon_send(me, trainer_done_atom::value);
  });
  return {
    [=](stats_atom) { return self->state.loop->metrics(); },
    [=](trainer_wait_atom) -> caf::result<trainer_metrics> {
      if (self->state.finished)
        return self->state.loop->metrics();
      self->state.waiters.push_back(self->make_response_promise<trainer_metrics>());
      return self->state.waiters.back();
    },
    [=](trainer_done_atom) {
      auto& st = self->state;
      st.finished = true;
      auto metrics = st.loop->metrics();
      for (auto& promise : st.waiters)
        promise.deliver(metrics);
      st.waiters.clear();
      if (st.on_done)
        st.on_done(metrics);
    },
  };
}

}  // namespace

trainer_actor spawn_trainer(caf::actor_system& system, trainer_setup setup,
                         std::function<void(const trainer_metrics&)> on_done) {
  return system.spawn(trainer, std::move(setup), std::move(on_done));
}

}  // namespace dmoe
