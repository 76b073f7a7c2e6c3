#include "runtime/wire_guard_state.hpp"

#include <algorithm>

#include <sys/socket.h>

namespace dmoe::wire_guard_detail {

namespace network = caf::io::network;

std::shared_ptr<guard_state> state_of(const caf::node_id& node) {
  static std::mutex mutex;
  static std::map<caf::node_id, std::shared_ptr<guard_state>> states;
  std::lock_guard<std::mutex> lock{mutex};
  auto& state = states[node];
  if (!state)
    state = std::make_shared<guard_state>();
  return state;
}

/// `what` at the warning level if the throttle of its kind and reason is due, else at the debug
/// level (runtime/warning_throttle.hpp); logged outside the guard's mutex.
void warn_throttled(guard_state& state, const char* kind, const std::string& reason,
                    spdlog::logger& log, const std::string& what) {
  size_t count = 0;
  bool due = false;
  {
    std::lock_guard<std::mutex> lock{state.mutex};
    due = state.repeated.due(kind, reason, warning_throttle::clock::now(), count);
  }
  if (due)
    log.warn("{}", throttled_line(what, count));
  else
    log.debug("{}", what);
}

std::string remote_address(network::native_socket fd) {
  auto address = network::remote_addr_of_fd(fd);
  return address ? *address : std::string{"?"};
}

bool admit(const caf::node_id& node, int fd) {
  auto state = state_of(node);
  auto address = remote_address(fd);
  auto now = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock{state->mutex};
  const auto& opt = state->options;
  auto& all = state->accepted;
  auto from_address = [&] {
    return static_cast<size_t>(std::count_if(all.begin(), all.end(), [&](const auto& c) {
      return c->address == address;
    }));
  };
  auto full = [&] {
    return all.size() >= opt.max_connections || from_address() >= opt.max_connections_per_address;
  };
  if (full()) {
    // Stale ones first, from the full address when that is the limit reached.
    bool address_full = all.size() < opt.max_connections;
    for (auto i = all.begin(); i != all.end() && full();) {
      auto& c = **i;
      if (!c.handshaken && now - c.since >= opt.handshake_timeout
          && (!address_full || c.address == address)) {
        ::shutdown(c.fd, SHUT_RDWR);
        i = all.erase(i);
      } else {
        ++i;
      }
    }
  }
  if (!full())
    return true;
  auto why = "refused a connection from " + address + ": " + std::to_string(all.size())
             + " connections open, " + std::to_string(from_address())
             + " from that address (limits.max-connections, max-connections-per-address)";
  auto log = log::get(opt.log_name);
  lock.unlock();
  warn_throttled(*state, "refused", {}, *log, why);
  return false;
}

}  // namespace dmoe::wire_guard_detail
