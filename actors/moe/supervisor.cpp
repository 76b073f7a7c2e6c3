// The router supervisor (see supervisor.hpp for its protocol).
#include "actors/moe/supervisor.hpp"

#include <deque>
#include <memory>
#include <unordered_map>

#include <caf/settings.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/guard/control_guard.hpp"
#include "messages/errors.hpp"
#include "messages/type_ids.hpp"
#include "runtime/logging.hpp"

namespace dmoe::moe {

namespace {

using steady = std::chrono::steady_clock;

bool is_orderly(const caf::error& reason) {
  return !reason || reason == caf::exit_reason::normal
         || reason == caf::exit_reason::user_shutdown;
}

class supervisor_state {
public:
  void init(supervisor_actor::pointer self, router_setup setup, restart_policy policy) {
    self_ = self;
    setup_ = std::move(setup);
    policy_ = policy;
    log_ = log::get(setup_.name + "/supervisor");
    // Shared with the exit functor, which runs when the state may already be gone.
    child_ = std::make_shared<router_actor>();
    self_->attach_functor([child = child_](const caf::error& reason) {
      if (*child)
        caf::anon_send_exit(*child, is_orderly(reason) ? caf::exit_reason::user_shutdown
                                                       : caf::exit_reason::kill);
    });
    spawn_child();
  }

  supervisor_actor::behavior_type make_behavior() {
    guard_control(self_, log_);
    self_->set_down_handler([this](caf::down_msg& msg) {
      if (genuine_down(self_, msg, *log_))
        child_down(msg);
    });
    // CAF 0.17 drops the promises of an actor that exits: answer them first, so a caller (the
    // trainer's thread on a stopping node) sees an error at once instead of its own timeout.
    self_->set_exit_handler([this](caf::exit_msg& msg) {
      if (!obeys_exit(self_, msg, *log_))
        return;
      fail_pending(make_error(errc::unavailable, "router stopped: " + describe(msg.reason)));
      self_->quit(msg.reason);
    });
    return {
      [this](moe_forward_atom atom, forward_job_ptr& job) {
        return relay(atom, std::move(job), setup_.options.forward_timeout);
      },
      [this](moe_backward_atom atom, backward_job_ptr& job) {
        return relay(atom, std::move(job), setup_.options.backward_timeout);
      },
      [this](stats_atom) { return stats(); },
      [this](moe_child_atom) { return *child_; },
    };
  }

private:
  void spawn_child() {
    *child_ = spawn_router(self_->system(), setup_);
    self_->monitor(*child_);
  }

  template <class Atom, class Job>
  caf::result<caf::ok_atom> relay(Atom atom, Job job, caf::timespan timeout) {
    auto promise = self_->make_response_promise<caf::ok_atom>();
    auto ticket = next_ticket_++;
    pending_.emplace(ticket, promise);
    self_->request(*child_, timeout + supervisor_reply_margin, atom, std::move(job))
      .then([this, ticket](caf::ok_atom) { settle(ticket, caf::error{}); },
            [this, ticket](caf::error& err) { settle(ticket, std::move(err)); });
    return promise;
  }

  /// Answers the call `ticket` unless a crash of its router answered it already.
  void settle(uint64_t ticket, caf::error failure) {
    auto i = pending_.find(ticket);
    if (i == pending_.end())
      return;
    if (failure)
      i->second.deliver(std::move(failure));
    else
      i->second.deliver(caf::ok_atom::value);
    pending_.erase(i);
  }

  caf::result<router_stats> stats() {
    auto promise = self_->make_response_promise<router_stats>();
    auto add_own = [this](router_stats& out) {
      out.restarts = static_cast<int64_t>(restarts_);
      out.router_id = static_cast<int64_t>(child_->id());
    };
    self_->request(*child_, supervisor_stats_timeout, stats_atom::value)
      .then(
        [promise, add_own](router_stats& child_stats) mutable {
          add_own(child_stats);
          promise.deliver(std::move(child_stats));
        },
        [promise, add_own](caf::error& err) mutable {
          router_stats out;
          add_own(out);
          out.router_error = describe(err);
          promise.deliver(std::move(out));
        });
    return promise;
  }

  void fail_pending(const caf::error& reason) {
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [ticket, promise] : pending)
      promise.deliver(reason);
  }

  void child_down(const caf::down_msg& msg) {
    if (msg.source != child_->address())
      return;  // an earlier child, already replaced
    if (is_orderly(msg.reason)) {
      log_->info("router exited ({}); the supervisor stops too", describe(msg.reason));
      fail_pending(make_error(errc::unavailable, "router stopped"));
      *child_ = nullptr;
      self_->quit(msg.reason);
      return;
    }
    log_->warn("router failed: {}", describe(msg.reason));
    fail_pending(make_error(errc::unavailable, "router crashed: " + describe(msg.reason)));
    auto now = steady::now();
    while (!recent_.empty() && now - recent_.front() > policy_.window)
      recent_.pop_front();
    if (recent_.size() >= policy_.max_restarts) {
      log_->error("router failed {} times within {} s; giving up: {}", recent_.size() + 1,
                  std::chrono::duration_cast<std::chrono::seconds>(policy_.window).count(),
                  describe(msg.reason));
      *child_ = nullptr;
      self_->quit(msg.reason);
      return;
    }
    recent_.push_back(now);
    ++restarts_;
    spawn_child();
    log_->info("router restarted ({} restarts so far)", restarts_);
  }

  supervisor_actor::pointer self_ = nullptr;
  router_setup setup_;
  restart_policy policy_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<router_actor> child_;
  size_t restarts_ = 0;
  std::deque<steady::time_point> recent_;  // restart times within the window
  uint64_t next_ticket_ = 1;
  std::unordered_map<uint64_t, caf::typed_response_promise<caf::ok_atom>> pending_;
};

using supervisor_stateful = supervisor_actor::stateful_base<supervisor_state>;

}  // namespace

supervisor_actor spawn_supervised_router(caf::actor_system& system, router_setup setup,
                                         restart_policy policy) {
  return system.spawn([setup = std::move(setup), policy](supervisor_stateful* self) mutable {
    self->state.init(self, std::move(setup), policy);
    return self->state.make_behavior();
  });
}

}  // namespace dmoe::moe
