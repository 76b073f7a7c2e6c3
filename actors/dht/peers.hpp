// Turns contact endpoints into actor handles. An endpoint registered in the process's
// local_directory (in-process swarms) resolves at once; "host:port" connects through CAF's
// middleman without blocking the owner. Resolved peers are monitored: a peer whose process dies
// (its TCP connection drops) or whose actor exits is reported through the owner's down handler
// at once, not after a request timeout.
//
// A helper thread connects with a bounded TCP connect and waits for the peer's handshake, then
// the socket goes to CAF's BASP broker (runtime/node_dial.hpp): the middleman's own connect
// blocks its one thread for minutes on an address that drops packets, and loses every
// connection whose handshake takes longer than a heartbeat interval to arrive.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>

namespace dmoe::dht {

/// Endpoints of the nodes living in this process, shared by them (thread-safe).
class local_directory {
public:
  void put(const std::string& endpoint, caf::actor handle);
  caf::actor find(const std::string& endpoint) const;
  void erase(const std::string& endpoint);

private:
  mutable std::mutex mtx_;
  std::unordered_map<std::string, caf::actor> entries_;
};

/// Resolved peers a resolver keeps at most.
constexpr size_t max_resolved_peers = 4096;

class peer_resolver {
public:
  using callback = std::function<void(caf::expected<caf::actor>)>;

  peer_resolver(caf::event_based_actor* self, std::shared_ptr<local_directory> directory,
                caf::timespan connect_timeout, size_t max_peers = max_resolved_peers);

  /// Calls `done` with the handle of `endpoint`, connecting first when needed.
  void resolve(const std::string& endpoint, callback done);

  /// Remembers that `handle` lives at `endpoint` (a resolved endpoint). At most max_peers are
  /// kept: the oldest is forgotten first (a later resolve connects again).
  void learn(const std::string& endpoint, const caf::actor& handle);

  /// Forgets the peer whose actor went down; returns its endpoint ("" when unknown).
  std::string forget(const caf::actor_addr& source);

  size_t size() const {
    return by_endpoint_.size();
  }

private:
  void hand_over(const std::string& endpoint, int fd, uint16_t port);
  void connected(const std::string& endpoint, caf::expected<caf::actor> result);

  caf::event_based_actor* self_;
  std::shared_ptr<local_directory> directory_;
  caf::timespan connect_timeout_;
  size_t max_peers_;
  std::deque<std::string> learned_order_;  // oldest first; may hold endpoints already forgotten
  std::unordered_map<std::string, caf::actor> by_endpoint_;
  std::unordered_map<caf::actor_addr, std::string> by_address_;
  std::unordered_map<std::string, std::vector<callback>> pending_;
};

}  // namespace dmoe::dht
