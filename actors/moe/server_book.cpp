#include "actors/moe/server_book.hpp"

#include <algorithm>
#include <limits>

namespace dmoe::moe {

bool server_book::saw_declaration(const std::string& endpoint, double expiration) {
  auto& s = servers_[endpoint];
  s.newest_expiration = std::max(s.newest_expiration, expiration);
  if (!s.dead || s.probing || expiration <= s.expiration_at_death)
    return false;
  s.probing = true;
  s.probed_expiration = expiration;
  return true;
}

void server_book::probe_finished(const std::string& endpoint, bool reached) {
  auto& s = servers_[endpoint];
  if (!s.probing)
    return;
  s.probing = false;
  if (reached)
    s.dead = false;
  else
    s.expiration_at_death = std::max(s.expiration_at_death, s.probed_expiration);
}

void server_book::mark_dead(const std::string& endpoint) {
  auto& s = servers_[endpoint];
  s.dead = true;
  s.probing = false;
  s.expiration_at_death = s.newest_expiration;
}

bool server_book::is_dead(const std::string& endpoint) const {
  auto i = servers_.find(endpoint);
  return i != servers_.end() && i->second.dead;
}

std::vector<std::string> server_book::dead_servers() const {
  std::vector<std::string> out;
  for (const auto& [endpoint, s] : servers_)
    if (s.dead)
      out.push_back(endpoint);
  std::sort(out.begin(), out.end());
  return out;
}

void server_book::call_started(const std::string& endpoint) {
  ++servers_[endpoint].in_flight;
}

void server_book::call_finished(const std::string& endpoint, double latency_ms) {
  auto& s = servers_[endpoint];
  if (s.in_flight > 0)
    --s.in_flight;
  if (latency_ms < 0)
    return;
  s.latency_ms = s.measured ? (1 - latency_ewma_alpha) * s.latency_ms
                                + latency_ewma_alpha * latency_ms
                            : latency_ms;
  s.measured = true;
}

void server_book::mark_busy(const std::string& endpoint, double until) {
  auto& s = servers_[endpoint];
  s.busy_until = std::max(s.busy_until, until);
}

bool server_book::is_busy(const std::string& endpoint, double now) const {
  auto i = servers_.find(endpoint);
  return i != servers_.end() && i->second.busy_until > now;
}

void server_book::mark_expert_busy(const std::string& endpoint, const std::string& expert_id,
                                   double until) {
  // Marks end within a backoff: forget the ended ones before the map grows large.
  constexpr size_t prune_above = 4096;
  if (busy_experts_.size() >= prune_above)
    for (auto i = busy_experts_.begin(); i != busy_experts_.end();)
      i = i->second < until - 60 ? busy_experts_.erase(i) : std::next(i);
  auto& mark = busy_experts_[{endpoint, expert_id}];
  mark = std::max(mark, until);
}

bool server_book::is_expert_busy(const std::string& endpoint, const std::string& expert_id,
                                 double now) const {
  auto i = busy_experts_.find({endpoint, expert_id});
  return i != busy_experts_.end() && i->second > now;
}

std::string server_book::pick(const std::vector<std::string>& replicas, double now,
                              const std::string& expert_id) const {
  std::string best;
  double best_cost = std::numeric_limits<double>::infinity();
  for (const auto& r : replicas) {
    if (r.empty() || is_dead(r) || is_busy(r, now)
        || (!expert_id.empty() && is_expert_busy(r, expert_id, now)))
      continue;
    auto cost = (latency_ms(r) + 1e-3) * static_cast<double>(1 + in_flight(r));
    if (cost < best_cost || (cost == best_cost && r < best)) {
      best = r;
      best_cost = cost;
    }
  }
  return best;
}

uint64_t server_book::batch_limit(const std::string& endpoint) const {
  auto i = servers_.find(endpoint);
  return i == servers_.end() ? 0 : i->second.batch_limit;
}

void server_book::set_batch_limit(const std::string& endpoint, uint64_t rows) {
  servers_[endpoint].batch_limit = rows;
}

double server_book::latency_ms(const std::string& endpoint) const {
  auto i = servers_.find(endpoint);
  return i == servers_.end() ? 0.0 : i->second.latency_ms;
}

size_t server_book::in_flight(const std::string& endpoint) const {
  auto i = servers_.find(endpoint);
  return i == servers_.end() ? 0 : i->second.in_flight;
}

}  // namespace dmoe::moe
