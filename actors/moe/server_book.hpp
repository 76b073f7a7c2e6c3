// What the router knows about expert servers (pure logic; time passed in): recent latency
// (EWMA), calls in flight, and which servers are dead. A server is dead from the moment its
// actor goes down until it is seen alive again: a declaration with a later expiration than any
// the router had seen from it when it died makes it a candidate, and only a successful connect
// to it (the router's probe) revives it. A declaration alone proves nothing: a lookup made
// before the death, or a DHT replica lagging behind, can hold a newer expiration than the
// router happened to have seen.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "messages/dht_codec.hpp"

namespace dmoe::moe {

/// Weight of the newest sample in the latency average.
constexpr double latency_ewma_alpha = 0.2;

class server_book {
public:
  /// Records a declaration (an item whose value is the server's endpoint) seen in the DHT.
  /// True when the caller should probe the server: it is dead, this declaration is newer than
  /// any seen at its death (or at its last failed probe), and no probe is under way.
  bool saw_declaration(const std::string& endpoint, double expiration);

  /// The probe of a dead server ended: reached (it lives again) or not (still dead; only a
  /// newer declaration starts another probe).
  void probe_finished(const std::string& endpoint, bool reached);

  void mark_dead(const std::string& endpoint);
  bool is_dead(const std::string& endpoint) const;
  std::vector<std::string> dead_servers() const;

  void call_started(const std::string& endpoint);
  /// A call ended; `latency_ms` < 0 for a failed call (no latency sample).
  void call_finished(const std::string& endpoint, double latency_ms);

  /// The server refused a call as overloaded: it is not picked before `until` (seconds, the
  /// clock of pick's `now`), so its calls go to another replica or a spare expert meanwhile.
  void mark_busy(const std::string& endpoint, double until);
  bool is_busy(const std::string& endpoint, double now) const;

  /// The server refused a call as expert_overloaded: only that expert is not called there
  /// before `until` (its update budget or its queue is full); the server's others still are.
  void mark_expert_busy(const std::string& endpoint, const std::string& expert_id, double until);
  bool is_expert_busy(const std::string& endpoint, const std::string& expert_id, double now) const;

  /// The replica to call among the endpoints declaring expert `expert_id`: the one with the
  /// lowest expected wait, latency x (1 + calls in flight), among those neither dead nor busy
  /// (as a server or for this expert) at `now`; "" when there is none.
  std::string pick(const std::vector<std::string>& replicas, double now,
                   const std::string& expert_id = {}) const;

  /// Most rows one call to `endpoint` may carry, as it said (ExpertInfo); 0 while unknown.
  uint64_t batch_limit(const std::string& endpoint) const;
  void set_batch_limit(const std::string& endpoint, uint64_t rows);

  double latency_ms(const std::string& endpoint) const;
  size_t in_flight(const std::string& endpoint) const;

private:
  struct server {
    double latency_ms = 0;  // 0 until measured: unmeasured servers are tried first
    bool measured = false;
    size_t in_flight = 0;
    double newest_expiration = 0;
    bool dead = false;
    double expiration_at_death = 0;  // or at the last failed probe
    bool probing = false;
    double probed_expiration = 0;
    uint64_t batch_limit = 0;
    double busy_until = 0;
  };
  std::unordered_map<std::string, server> servers_;
  std::map<std::pair<std::string, std::string>, double> busy_experts_;  // (server, id) -> until
};

}  // namespace dmoe::moe
