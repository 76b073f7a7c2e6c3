// A trainer's side of averaging, run from its training thread (blocking; never from inside an
// actor's handler): one round of the all-reduce (averager.hpp describes the round), and the
// download of the swarm's state when the trainer joins.
//
// Bounds: matchmaking takes at most 2 x gather_timeout; each later phase at most round_timeout
// per step (contributions, the decision, the averages), so a round ends, averaged or
// abandoned, within 2 x gather_timeout + 4 x round_timeout whatever the peers do.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <spdlog/logger.h>

#include "actors/averager/averager.hpp"

namespace dmoe {

/// A fresh member id: 32 random hex digits.
std::string new_member_id();

struct member_setup {
  std::string name = "averager";  // logger name
  averaging_options options;
  wire_limits limits;
  averager_actor averager;        // this node's
  dht::node_actor dht;            // this node's, for matchmaking
  std::string id;                 // as the averager's
  std::string endpoint;           // as the averager's; empty in client mode
  /// The averager at another member's endpoint; empty: its gateway, dialed over TCP.
  std::function<caf::expected<caf::actor>(const std::string& endpoint)> dial;
};

struct round_input {
  uint64_t outer_step = 0;
  uint64_t fingerprint = 0;
  double weight = 0;                  // samples since the last outer step
  uint64_t elements = 0;              // of the averaged vector
  /// What is averaged (the pseudo-gradient), asked for once the group has formed, so that the
  /// trainer trains on while the round's members gather. It must hold `elements` values and
  /// live until the round ends.
  std::function<const std::vector<float>*()> values;
};

struct round_output {
  std::vector<float> average;
  size_t members = 0;    // in the group
  size_t reducers = 0;   // members that reduced a part (clients reduce none)
  size_t survivors = 0;  // whose contributions the average holds
  double weight = 0;     // their samples
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
};

/// Why a round gave nothing, beside the error: out of sync with its leader (then `donor` is
/// where to download the state from).
struct round_failure {
  caf::error error;
  std::string donor;
};

class averaging_member {
public:
  averaging_member(caf::actor_system& system, member_setup setup);

  /// One round: matchmaking for `in.outer_step`, the all-reduce, the average. An error when no
  /// group formed, the round was abandoned or this member was dropped from it.
  caf::expected<round_output> average(const round_input& in, round_failure* failure = nullptr);

  /// The state of the most advanced reachable member with `model` and `elements` parameters
  /// (another donor when one fails mid-download); an error when none is reachable. With
  /// `donor` set, only that one is asked.
  caf::expected<averaging_state> download_state(const std::string& model, uint64_t elements,
                                                const std::string& donor = {});

  /// The run's most advanced other member with an endpoint (by outer step), if any declared.
  std::optional<avg::member> most_advanced();

  /// Serves `state` to joiners and declares this member at its outer step.
  void publish(state_ptr state);

private:
  caf::expected<caf::actor> reach(const std::string& endpoint);
  std::vector<avg::member> listed(const std::string& key);

  caf::actor_system& system_;
  member_setup setup_;
  std::shared_ptr<spdlog::logger> log_;
  std::map<std::string, caf::actor> peers_;  // by endpoint, once dialed
  std::set<caf::actor_addr> unreachable_;    // peers whose calls failed: dialed again
};

}  // namespace dmoe
