#include "actors/averager/call_runner.hpp"

#include <deque>
#include <future>
#include <map>
#include <memory>

#include <caf/event_based_actor.hpp>

#include "messages/errors.hpp"
#include "messages/type_ids.hpp"

namespace dmoe::averaging {

namespace {

using steady = std::chrono::steady_clock;
constexpr auto retry_pause = std::chrono::milliseconds(50);

using retry_atom = caf::atom_constant<caf::atom("avg_retry")>;

/// Runs a list of calls on an event-based actor: each target gets at most `window` in flight,
/// so a slow or dead peer holds up only its own calls; a call refused with not_found (its
/// round not begun there yet) is sent again until `deadline`; a target that fails once gets no
/// more calls. Reports the first failure once every call has ended.
class call_runner {
public:
  call_runner(caf::event_based_actor* self, std::vector<call>& calls, caf::timespan timeout,
              steady::time_point deadline, const wire_limits& limits, traffic& t, size_t window,
              std::set<caf::actor_addr>& failed, std::promise<caf::error>& done)
    : self_(self), calls_(calls), timeout_(timeout), deadline_(deadline), limits_(limits),
      traffic_(t), window_(window), failed_(failed), done_(done), remaining_(calls.size()) {
  }

  void start() {
    for (size_t i = 0; i < calls_.size(); ++i)
      queues_[calls_[i].to.address()].push_back(i);
    if (remaining_ == 0)
      return finish();
    for (auto& [target, _] : queues_)
      pump(target);
  }

  void retry(size_t i) {
    --in_flight_[calls_[i].to.address()];
    queues_[calls_[i].to.address()].push_front(i);
    pump(calls_[i].to.address());
  }

private:
  void pump(const caf::actor_addr& target) {
    auto& queue = queues_[target];
    while (!queue.empty() && in_flight_[target] < window_) {
      auto i = queue.front();
      queue.pop_front();
      send(i);
    }
  }

  void send(size_t i) {
    auto& c = calls_[i];
    ++in_flight_[c.to.address()];
    auto bytes = avg::encode_request(c.req);
    bool remote = c.to.node() != self_->node();  // traffic counts what leaves the node
    if (remote)
      traffic_.sent += bytes.bytes.size();
    self_->request(c.to, timeout_, average_rpc_atom::value, std::move(bytes))
      .then(
        [this, i, remote](payload& in) {
          if (remote)
            traffic_.received += in.bytes.size();
          auto r = avg::decode_reply(in, limits_);
          if (!r) {
            if (code_of(r.error()) == errc::not_found && steady::now() < deadline_) {
              self_->delayed_send(self_, retry_pause, retry_atom::value, i);
              return;
            }
            return fail(i, r.error());
          }
          if (auto err = calls_[i].take(*r))
            return fail(i, err);
          done_with(i);
        },
        [this, i](caf::error& err) { fail(i, err); });
  }

  void done_with(size_t i) {
    auto target = calls_[i].to.address();
    --in_flight_[target];
    --remaining_;
    if (remaining_ == 0)
      return finish();
    pump(target);
  }

  void fail(size_t i, const caf::error& err) {
    if (!first_failure_)
      first_failure_ = err;
    auto target = calls_[i].to.address();
    failed_.insert(target);
    auto& queue = queues_[target];
    remaining_ -= queue.size();  // the target gets no more calls
    queue.clear();
    done_with(i);
  }

  void finish() {
    done_.set_value(first_failure_);
    self_->quit();
  }

  caf::event_based_actor* self_;
  std::vector<call>& calls_;
  caf::timespan timeout_;
  steady::time_point deadline_;
  wire_limits limits_;
  traffic& traffic_;
  size_t window_;
  std::set<caf::actor_addr>& failed_;
  std::promise<caf::error>& done_;
  size_t remaining_;
  caf::error first_failure_;
  std::map<caf::actor_addr, std::deque<size_t>> queues_;
  std::map<caf::actor_addr, size_t> in_flight_;
};

}  // namespace

caf::error run_calls(caf::actor_system& system, std::vector<call>& calls, caf::timespan timeout,
                     steady::time_point deadline, const wire_limits& limits, traffic& t,
                     std::set<caf::actor_addr>& failed, size_t in_flight) {
  if (calls.empty())
    return caf::none;
  std::promise<caf::error> done;
  auto result = done.get_future();
  system.spawn([&](caf::event_based_actor* self) -> caf::behavior {
    auto runner = std::make_shared<call_runner>(self, calls, timeout, deadline, limits, t,
                                                in_flight, failed, done);
    runner->start();
    return {[runner](retry_atom, size_t i) { runner->retry(i); }};
  });
  return result.get();
}


}  // namespace dmoe::averaging
