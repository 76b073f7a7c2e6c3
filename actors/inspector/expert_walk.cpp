#include "actors/inspector/expert_walk.hpp"

#include <deque>
#include <memory>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "actors/dht/node.hpp"
#include "actors/dht/node_id.hpp"
#include "actors/dht/ownership.hpp"
#include "actors/inspector/inspector_state.hpp"
#include "messages/dht_codec.hpp"
#include "messages/declaration.hpp"
#include "messages/type_ids.hpp"

namespace dmoe::inspector {

namespace {

struct pending_key {
  std::string key;    // a grid prefix: "ffn.", "ffn.3."
  size_t depth = 0;   // coordinates in the key
};

struct walk : std::enable_shared_from_this<walk> {
  inspector_stateful* self;
  dht::lookup_actor dht;
  caf::timespan timeout;
  std::function<bool()> budget;
  std::function<void(walk_result)> done;
  std::deque<pending_key> queue;
  std::set<std::string> seen;
  size_t in_flight = 0;
  bool stopped = false;  // the caller's budget ran out: no more lookups
  walk_result result;

  void enqueue(pending_key next) {
    if (stopped)
      return;
    if (next.depth > max_grid_depth || !seen.insert(next.key).second)
      return;
    if (result.lookups + queue.size() >= max_walk_lookups) {
      result.truncated = true;
      return;
    }
    queue.push_back(std::move(next));
  }

  void pump() {
    while (in_flight < max_walk_in_flight && !queue.empty()) {
      if (budget && !budget()) {
        result.problems.push_back(fmt::format("stopped with {} grid keys left: this peer's DHT "
                                              "lookups per second are spent "
                                              "(dht.peer-access-rate)",
                                              queue.size()));
        result.truncated = true;
        stopped = true;
        queue.clear();
        break;
      }
      auto next = std::move(queue.front());
      queue.pop_front();
      ++in_flight;
      ++result.lookups;
      auto me = shared_from_this();
      self->request(dht, timeout, dht::dht_get_atom::value, next.key)
        .then(
          [me, next](payload& reply, uint32_t, uint32_t) {
            me->on_items(next, reply);
            me->finished_one();
          },
          [me, next](caf::error& err) {
            me->result.problems.push_back("DHT get '" + next.key + "' failed: " + describe(err));
            me->finished_one();
          });
    }
    if (in_flight == 0 && queue.empty() && done) {
      auto callback = std::move(done);
      done = nullptr;
      callback(std::move(result));
    }
  }

  void finished_one() {
    --in_flight;
    pump();
  }

  void on_items(const pending_key& from, const payload& reply) {
    auto decoded = dht::decode_response(reply);
    if (!decoded) {
      result.problems.push_back("DHT get '" + from.key + "': " + describe(decoded.error()));
      return;
    }
    if (auto* err = std::get_if<caf::error>(&decoded->body)) {
      result.problems.push_back("DHT get '" + from.key + "': " + describe(*err));
      return;
    }
    auto* found = std::get_if<dht::find_value_result>(&decoded->body);
    if (found == nullptr)
      return;
    // As routers do: only items signed by their owners count (enqueue skips repeated keys).
    auto& owned = found->items;
    if (auto unowned = dht::keep_verified_owned(dht::key_id(from.key), owned); unowned > 0)
      result.problems.push_back("ignored " + std::to_string(unowned) + " item(s) under '" + from.key
                                + "' not signed by an owner");
    for (const auto& x : owned) {
      auto declared = decode_declaration(x.value);
      if (!declared) {
        result.problems.push_back("ignored an item under '" + from.key
                                  + "': " + describe(declared.error()));
        continue;
      }
      for (auto child : declared->child_list()) {
        auto name = from.key + std::to_string(child);
        if (!declared->leaves) {
          enqueue({name + ".", from.depth + 1});
        } else if (result.experts.size() < max_walk_experts || result.experts.count(name) > 0) {
          result.experts[name].insert(declared->endpoint);
        } else {
          result.truncated = true;
        }
      }
    }
  }
};

}  // namespace

void walk_declared_experts(inspector_stateful* self, dht::lookup_actor dht,
                           std::vector<std::string> grids, caf::timespan timeout,
                           std::function<bool()> budget, std::function<void(walk_result)> done) {
  auto w = std::make_shared<walk>();
  w->self = self;
  w->dht = std::move(dht);
  w->timeout = timeout;
  w->budget = std::move(budget);
  w->done = std::move(done);
  for (auto& grid : grids)
    w->enqueue({grid + ".", 0});
  w->pump();
}

}  // namespace dmoe::inspector
