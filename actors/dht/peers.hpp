// Turns contact endpoints into actor handles. An endpoint registered in the process's
// local_directory (in-process swarms) resolves at once; "host:port" connects through CAF's
// middleman without blocking the owner. Resolved peers are monitored: a peer whose process dies
// (its TCP connection drops) or whose actor exits is reported through the owner's down handler
// at once, not after a request timeout.
//
// A detached dialer actor connects with a bounded TCP connect and waits for the peer's
// handshake, then hands the socket to CAF's BASP broker (runtime/node_dial.hpp): the middleman's own connect
// blocks its one thread for minutes on an address that drops packets, and loses every
// connection whose handshake takes longer than a heartbeat interval to arrive.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/local_actor.hpp>

namespace dmoe::dht {

/// Endpoints of the nodes living in this process, shared by them (thread-safe).
class local_directory {
public:
  /// Registers the actor answering at `endpoint` in this process: a DHT node, or a server
  /// whose callers reach it as they would reach another node's gateway.
  template <class Handle>
  void put(const std::string& endpoint, const Handle& handle) {
    put_actor(endpoint, caf::actor_cast<caf::actor>(handle));
  }
  caf::actor find(const std::string& endpoint) const;

private:
  void put_actor(const std::string& endpoint, caf::actor handle);

  mutable std::mutex mtx_;
  std::unordered_map<std::string, caf::actor> entries_;
};

/// Resolved peers a resolver keeps at most.
constexpr size_t max_resolved_peers = 4096;

using dial_atom = caf::atom_constant<caf::atom("tcp_dial")>;

/// Time beyond the two bounded connect steps before a dialer's answer is given up on.
constexpr auto dial_reply_margin = std::chrono::seconds(1);

/// The actor that dials one peer on its own thread (spawned detached) and then ends:
/// (dial_atom, host, port, timespan timeout) -> caf::actor, the actor published there, refused
/// unless it was published with every message of `required` (runtime/node_dial.hpp:
/// dial_node, each step bounded by `timeout`).
caf::behavior dial_behavior(caf::event_based_actor* self, std::set<std::string> required);

class peer_resolver {
public:
  using callback = std::function<void(caf::expected<caf::actor>)>;

  /// `self` is the owning actor, typed or not: callbacks run on it. A peer reached over TCP
  /// must have been published with every message of `remote_interface` (the message types of
  /// the handle the owner will take it for), else resolving it fails; peers in the local
  /// directory were typed when they were put there.
  template <class Self>
  peer_resolver(Self* self, std::shared_ptr<local_directory> directory,
                caf::timespan connect_timeout, std::set<std::string> remote_interface,
                size_t max_peers = max_resolved_peers)
    : peer_resolver(self, std::move(directory), max_peers,
                    dial_through(self, connect_timeout, std::move(remote_interface))) {
  }

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
  /// Starts a dial of host:port whose result reaches `done` on the owner.
  using dial_function = std::function<void(const std::string& host, uint16_t port, callback done)>;

  // CAF 0.17's request() lives in each actor type's own mixin, so the owner's is bound here.
  template <class Self>
  static dial_function dial_through(Self* self, caf::timespan connect_timeout,
                                    std::set<std::string> required) {
    return [self, connect_timeout, required](const std::string& host, uint16_t port,
                                             callback done) {
      auto dialer = self->template spawn<caf::detached>(dial_behavior, required);
      self->request(dialer, 2 * connect_timeout + dial_reply_margin, dial_atom::value, host, port,
                    connect_timeout)
        .then([done](caf::actor& peer) { done(std::move(peer)); },
              [done](caf::error& err) { done(std::move(err)); });
    };
  }

  peer_resolver(caf::local_actor* self, std::shared_ptr<local_directory> directory,
                size_t max_peers, dial_function dial);

  void connected(const std::string& endpoint, caf::expected<caf::actor> result);

  caf::local_actor* self_;
  dial_function dial_;
  std::shared_ptr<local_directory> directory_;
  size_t max_peers_;
  std::deque<std::string> learned_order_;  // oldest first; may hold endpoints already forgotten
  std::unordered_map<std::string, caf::actor> by_endpoint_;
  std::unordered_map<caf::actor_addr, std::string> by_address_;
  std::unordered_map<std::string, std::vector<callback>> pending_;
};

}  // namespace dmoe::dht
