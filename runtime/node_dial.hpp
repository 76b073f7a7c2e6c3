// Dialing another dmoe node over TCP, around two limits of CAF 0.17's middleman:
//   - its connect blocks the middleman's one connecting thread until the kernel gives up
//     (about two minutes for an address that drops packets), stalling every other connect of
//     the process;
//   - a new outgoing connection's "last seen" starts at the clock's epoch and is only set when
//     the peer's first bytes (its BASP handshake) are read, so a heartbeat tick handled before
//     that closes it with connection_timeout: with dmoe's 200 ms heartbeat, a peer 100 ms away
//     failed every other connect and one 250 ms away every single one (measured through
//     dmoe-link); even on loopback a tick handled between the broker's connect and its next
//     read closed the connection (averaging rounds lost a reducer in the main job; 8 and 4 of 20
//     dials with a 2 ms heartbeat, tls.node). The guard's scribe now counts a dialed
//     connection as heard from when the broker takes it (runtime/guarded_scribe.cpp).
// So dmoe connects the socket itself, bounded in time (and, between swarm members, does the TLS
// handshake: runtime/tls.hpp), waits until the peer's handshake is readable, and only then
// hands the socket to CAF's BASP broker, which reads the handshake at once. The result is the same as the middleman's connect: the peer's node id and the actor it
// published on that port.
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

namespace dmoe {

/// Waits for poll `events` on `fd` until `deadline`; 0 when they came, else errno or ETIMEDOUT.
int wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline);

/// A connected TCP socket to host:port (IPv4, names resolved with getaddrinfo) on which the
/// peer has already sent bytes, within `timeout` for all steps; errc::unavailable says why
/// not. When `system` speaks TLS (wire_tls), the TLS handshake comes in between, and the
/// session waits for guarded_scribe (keep_secured_dial). The caller owns the descriptor.
caf::expected<int> connect_until_readable(caf::actor_system& system, const std::string& host,
                                          uint16_t port, std::chrono::milliseconds timeout);

/// CAF's BASP broker of `system`. Requesting (caf::connect_atom, guarded_scribe(system, fd),
/// port) from it (runtime/wire_guard.hpp) hands over `fd` and answers (caf::node_id, caf::strong_actor_ptr,
/// std::set<std::string>), like the middleman's connect.
caf::actor basp_broker(caf::actor_system& system);

/// The set of CAF message signatures an actor was published with
/// (caf::actor_system::message_types of its handle; empty for an untyped actor).
using actor_interface = std::set<std::string>;

/// The actor in a BASP broker's connect reply; an error naming `where` when nothing is
/// published on that port, or when what is published there was not published with every
/// message of `required` (an empty `required` takes any actor).
caf::expected<caf::actor> published_actor(caf::strong_actor_ptr ptr,
                                          const actor_interface& published,
                                          const actor_interface& required,
                                          const std::string& where);

/// Blocking: the actor published at host:port, both steps bounded by `timeout`. Not from
/// inside an actor's handler. With a `required` interface, an actor published without all of
/// it is refused (errc::unavailable): a node of an incompatible dmoe version, or something
/// other than what the caller dials for.
caf::expected<caf::actor> dial_node(caf::actor_system& system, const std::string& host,
                                    uint16_t port, std::chrono::milliseconds timeout,
                                    const actor_interface& required = {});

/// dial_node for a typed handle: what is published at host:port must speak all of Handle's
/// protocol (the check CAF's middleman makes in remote_actor<Handle>).
template <class Handle>
caf::expected<Handle> dial_as(caf::actor_system& system, const std::string& host, uint16_t port,
                              std::chrono::milliseconds timeout) {
  auto peer = dial_node(system, host, port, timeout, system.message_types<Handle>());
  if (!peer)
    return peer.error();
  return caf::actor_cast<Handle>(std::move(*peer));
}

}  // namespace dmoe
