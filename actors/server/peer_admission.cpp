#include "actors/server/peer_admission.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "messages/errors.hpp"

namespace dmoe {

namespace {

constexpr double sweep_period_seconds = 1.0;
constexpr double mib = 1024.0 * 1024.0;

}  // namespace

peer_admission::peer_state& peer_admission::state_of(const std::string& peer, double now) {
  if (now - last_sweep_ >= sweep_period_seconds)
    forget_idle(now);
  return peers_[peer];
}

void peer_admission::forget_idle(double now) {
  last_sweep_ = now;
  for (auto i = peers_.begin(); i != peers_.end();) {
    auto& p = i->second;
    auto m = p.shares();
    bool idle = p.in_flight == 0
                && p.requests.full(limits_.request_rate * m, limits_.request_burst * m, now)
                && std::all_of(p.updates.begin(), p.updates.end(), [&](const auto& kv) {
                     return kv.second.full(limits_.update_rate * m, limits_.update_burst * m, now);
                   });
    i = idle ? peers_.erase(i) : std::next(i);
  }
}

caf::error peer_admission::take_request(const std::string& peer, uint64_t bytes, double now,
                                        const std::string& node) {
  auto& p = state_of(peer, now);
  if (!node.empty() && p.nodes.size() < std::max<uint64_t>(limits_.max_nodes_per_peer, 1)
      && std::find(p.nodes.begin(), p.nodes.end(), node) == p.nodes.end())
    p.nodes.push_back(node);
  auto m = p.shares();
  if (!p.requests.take(1, limits_.request_rate * m, limits_.request_burst * m, now)) {
    ++counters_.over_rate;
    return make_error(errc::overloaded,
                      fmt::format("more than {:g} requests per second from this peer "
                                  "(server.peer-request-rate)", limits_.request_rate * m));
  }
  return peer_refusal(p, bytes);
}

caf::error peer_admission::peer_refusal(const peer_state& p, uint64_t bytes) {
  auto m = p.shares();
  if (limits_.max_in_flight > 0 && p.in_flight >= limits_.max_in_flight * m) {
    ++counters_.over_in_flight;
    return make_error(errc::overloaded,
                      fmt::format("this peer has {} calls in flight already "
                                  "(server.peer-max-in-flight)", p.in_flight));
  }
  auto peer_bytes = static_cast<uint64_t>(static_cast<double>(limits_.max_peer_bytes) * m);
  if (limits_.max_peer_bytes > 0 && p.bytes + bytes > peer_bytes)
    return bytes_refusal("this peer's calls", peer_bytes, "server.peer-max-queued-mb");
  if (limits_.max_total_bytes > 0 && total_bytes_ + bytes > limits_.max_total_bytes)
    return bytes_refusal("all calls", limits_.max_total_bytes, "server.max-queued-mb");
  return caf::none;
}

caf::error peer_admission::bytes_refusal(const char* what, uint64_t limit, const char* option,
                                         errc code) {
  ++counters_.over_bytes;
  return make_error(code,
                    fmt::format("{} would exceed {:.0f} MiB of waiting requests ({})", what,
                                static_cast<double>(limit) / mib, option));
}

caf::error peer_admission::admit(const admission_ticket& call, uint64_t backward_samples,
                                 double now) {
  auto& p = state_of(call.peer, now);
  if (auto refused = peer_refusal(p, call.bytes))
    return refused;
  auto m = p.shares();
  auto at_expert = p.expert_bytes.count(call.expert) > 0 ? p.expert_bytes[call.expert] : 0;
  auto expert_bytes = static_cast<uint64_t>(static_cast<double>(limits_.max_expert_bytes) * m);
  if (limits_.max_expert_bytes > 0 && at_expert + call.bytes > expert_bytes)
    return bytes_refusal("this peer's calls to this expert", expert_bytes,
                         "server.peer-max-expert-mb", errc::expert_overloaded);
  if (backward_samples > 0) {
    auto& budget = p.updates[call.expert];
    if (!budget.take(static_cast<double>(backward_samples), limits_.update_rate * m,
                     limits_.update_burst * m, now)) {
      ++counters_.over_updates;
      return make_error(errc::expert_overloaded,
                        fmt::format("this peer's updates of this expert exceed {:g} samples per "
                                    "second (server.peer-update-rate)", limits_.update_rate * m));
    }
  }
  ++counters_.admitted;
  ++p.in_flight;
  p.bytes += call.bytes;
  p.expert_bytes[call.expert] += call.bytes;
  total_bytes_ += call.bytes;
  return caf::none;
}

void peer_admission::release(const admission_ticket& call) {
  auto i = peers_.find(call.peer);
  if (i == peers_.end())
    return;
  auto& p = i->second;
  p.in_flight -= std::min<uint64_t>(p.in_flight, 1);
  p.bytes -= std::min(p.bytes, call.bytes);
  total_bytes_ -= std::min(total_bytes_, call.bytes);
  auto e = p.expert_bytes.find(call.expert);
  if (e != p.expert_bytes.end()) {
    e->second -= std::min(e->second, call.bytes);
    if (e->second == 0)
      p.expert_bytes.erase(e);
  }
}

}  // namespace dmoe
