// The wire guard: dmoe's own sockets under CAF's BASP broker, checking every BASP frame a peer
// sends before the broker reads it. CAF 0.17 trusts its peers:
//   - a 32-byte header claiming a 4 GiB payload makes the connection's read buffer grow (and
//     be zero-filled) to 4 GiB;
//   - a "routed" message may name any source node, this one included, and is then delivered as
//     if a local actor had sent it; a handshake may claim this node's own id, with the same
//     effect for everything that follows on that connection;
//   - every actor id registered on the node receives messages, CAF's own servers included,
//     anonymous ones too, and exit and error messages make an actor quit by default.
// In front of the broker, on every connection a node accepts (publish_guarded) or makes
// (guarded_scribe, used by node_dial), the guard
//   - closes the connection on a frame header claiming more than max_frame_bytes, a routed
//     message (dmoe nodes talk directly, nothing is relayed through a third node), a client
//     handshake claiming this node's id, a handshake claiming another node than the
//     connection's first one, a down or monitor message about another node than the
//     connection's or for another node than this one (a forged one would kill the proxies of a
//     third node's actors here), or anything it cannot parse;
//   - drops (reads past) a message that is not a reply and is anonymous, addressed by name, or
//     addressed to an actor that has not been opened to the network (accept_from_network), and
//     a request to monitor such an actor;
//   - holds a message to an open actor back from the broker until its payload shows what it
//     is, and drops it unless it is a dmoe request: an atom followed by plain data (strings,
//     numbers, payloads) and no forwarding stack. Exit, down and error messages, and link
//     requests, never reach an actor from the network: CAF makes an actor quit on an exit
//     message with reason `kill` whatever its exit handler says.
// A reply passes only when it answers a request this node sent the peer's node (the guard
// reads the requests in what the node sends, runtime/awaited_replies.hpp): a peer cannot answer
// calls made to other nodes. And only when it holds plain data or an error: actor handles in a
// reply would make CAF create proxies and routes for whatever node ids they name. CAF hands
// replies to the handler that awaits them, never to the exit, down or error handlers.
// With TLS (wire_guard_options.tls) every connection is a TLS session under the same checks:
// accepted ones run their handshake in the scribe (runtime/tls_scribe.hpp) and only members of
// the swarm (certificates from its CA) get past it; dialed ones come secured from node_dial.
// Resources a peer can hold are bounded:
//   - a frame's payload is read in chunks of at most 64 KiB into a buffer that grows only with
//     the bytes that arrived (CAF itself would size and zero-fill the whole announced payload at
//     once); frames still arriving hold at most max_pending_frame_bytes on all connections
//     together, and the connection whose frame would pass it is closed;
//   - a peer that does not read what the node sends it is disconnected once max_unsent_bytes
//     wait for it (every connection, accepted or dialed);
//   - a node accepts at most max_connections connections at once, max_connections_per_address
//     from one IP address; at a limit, accepted connections that have not finished their
//     handshakes (TLS and CAF's) within handshake_timeout are closed to make room, and a new
//     connection that still finds no room is closed at once (a warning, at most one per 10 s,
//     counts them);
//   - what a peer repeats at will (dropped messages, closed connections, failed TLS handshakes)
//     is warned about at most once per 10 s per kind and reason (up to 64 reasons), with a
//     count, and logged at the debug level otherwise; text from the wire is escaped and cut.
// What it cannot do: a peer may still claim the id of another node that has not connected yet
// (BASP node ids are self-declared); with TLS only swarm members can try.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/io/scribe.hpp>
#include <caf/local_actor.hpp>
#include <caf/node_id.hpp>

#include "messages/limits.hpp"
#include "runtime/tls.hpp"

namespace dmoe {

struct wire_guard_options {
  std::string log_name = "wire";
  uint64_t max_frame_bytes = default_max_frame_bytes;
  size_t max_connections = default_max_connections;  // accepted, at once
  size_t max_connections_per_address = default_max_connections_per_address;
  uint64_t max_pending_frame_bytes = default_max_pending_frame_bytes;  // all connections
  uint64_t max_unsent_bytes = default_max_unsent_bytes;  // per connection
  std::chrono::steady_clock::duration handshake_timeout = std::chrono::seconds(10);
  std::shared_ptr<const tls_context> tls;  // null: plain TCP (an open swarm)
  std::string source_address;  // the local IP address dials come from (empty: the system's)
};

/// The options for every connection `system` accepts or makes from now on.
void set_wire_guard_options(caf::actor_system& system, wire_guard_options options);

/// The same with `options.tls` loaded from `tls` when it names files; an error naming the file
/// that cannot be used (nothing is set then).
caf::error set_wire_guard_options(caf::actor_system& system, wire_guard_options options,
                                  const tls_options& tls);

/// Lets actor `id` of `system` receive messages other than replies from other nodes (the
/// gateway, the DHT node, which its peers call directly once they know it, and the actors that
/// receive expert replies in parts). Ids are never reused.
void accept_from_network(caf::actor_system& system, caf::actor_id id);

/// Who `peer`, a node connected to `system`, is for per-peer limits (runtime/peer_identity.hpp):
/// with TLS "member <name>", else "address <ip>", from the connection whose first handshake
/// named that node; "node <id>" when no connection names it (a caller in this process).
std::string peer_identity(caf::actor_system& system, const caf::node_id& peer);

/// Who a call from node `origin` to `self` is for per-peer limits: "" when `origin` is `self`'s
/// own node (this process is not limited), else peer_identity.
std::string caller_identity(caf::local_actor* self, const caf::node_id& origin);

/// The same for `self`'s current message. One without a sender counts as this process's: the
/// guard drops anonymous messages from the network.
std::string caller_identity(caf::local_actor* self);

/// The local IP address `system`'s dials come from (wire_guard_options; empty: the system's
/// choice).
std::string wire_source_address(caf::actor_system& system);

/// The TLS context of `system`'s connections; null when they are plain TCP.
std::shared_ptr<const tls_context> wire_tls(caf::actor_system& system);

/// Keeps the TLS session of `fd`, a connection this node dialed and secured, for the
/// guarded_scribe that takes `fd` over.
void keep_secured_dial(caf::actor_system& system, int fd, ssl_ptr session);

/// A guarded scribe for `fd`, a connection this node made (ownership passes to it). With TLS,
/// over the session kept for `fd` (keep_secured_dial); without one the connection closes.
caf::io::scribe_ptr guarded_scribe(caf::actor_system& system, int fd);

/// Publishes `whom` on host:port (port 0: any free port) behind the guard, as the middleman's
/// publish does otherwise; the port actually bound. Peers that dial it learn `interface`, the
/// message signatures of its handle (empty: untyped; see runtime/node_dial.hpp: dial_as).
/// Unpublish with the middleman's unpublish.
caf::expected<uint16_t> publish_guarded(caf::actor_system& system, const caf::actor& whom,
                                        uint16_t port, const std::string& host, bool reuse_addr,
                                        std::set<std::string> interface = {});

/// publish_guarded for a typed handle: peers learn its whole protocol.
template <class Handle>
caf::expected<uint16_t> publish_guarded(caf::actor_system& system, const Handle& whom,
                                        uint16_t port, const std::string& host,
                                        bool reuse_addr) {
  return publish_guarded(system, caf::actor_cast<caf::actor>(whom), port, host, reuse_addr,
                         system.message_types(whom));
}

/// The guard's decisions for one connection, apart from any socket. It sees each chunk read
/// from the peer: a BASP header, then the payload that header announced.
class basp_frame_check {
public:
  enum class action {
    deliver,  // hand the chunk to the broker
    hold,     // keep this header from the broker until its payload (next_read() bytes) is seen
    release,  // hand the held header, then this payload, to the broker
    skip,     // drop this header's message: read past next_read() bytes
    drop,     // this chunk is the payload of a dropped message: read the next header
    close,    // close the connection
  };
  struct verdict {
    action what;
    std::string why;      // for skip, drop (of a held message) and close
    bool routine = false;  // what every CAF peer sends (logged at the debug level)
    bool own_id = false;   // a close for a client handshake claiming this node's id
  };

  /// `accepts(id)`: whether actor `id` takes messages other than replies from the network.
  /// `answers(peer, id, request)`: whether a reply from node `peer` to actor `id` answers a
  /// request (a message id without its flags) this node sent there (runtime/awaited_replies.hpp).
  using reply_check = std::function<bool(const caf::node_id&, caf::actor_id, uint64_t)>;
  basp_frame_check(caf::node_id self, uint64_t max_frame_bytes,
                   std::function<bool(caf::actor_id)> accepts, reply_check answers);

  verdict check(const char* data, size_t size);

  /// A request this node sends the peer: from actor `from`, with message id `request` (without
  /// its flags).
  struct request {
    caf::actor_id from;
    uint64_t request;
  };
  /// The requests among the bytes this node sends the peer next (BASP frames, cut anywhere).
  std::vector<request> sent(const char* data, size_t size);

  /// The node of the connection's first handshake (none before it).
  const caf::node_id& peer() const {
    return peer_;
  }

  /// The size of the next read, after hold or skip.
  size_t next_read() const {
    return payload_len_;
  }

  /// Whether the peer's handshake passed (a client or server handshake's payload delivered).
  bool handshake_seen() const {
    return handshake_seen_;
  }

private:
  // doomed_payload: a message that is dropped whatever it holds, read to tell CAF's own
  // chatter (logged at the debug level) from anything else.
  enum class expecting { header, payload, held_payload, skipped_payload, doomed_payload };

  verdict check_header(const char* data, size_t size);
  verdict check_payload(const char* data, size_t size);
  verdict check_held_payload(const char* data, size_t size);
  verdict check_doomed_payload(const char* data, size_t size);

  caf::node_id self_;
  uint64_t max_frame_bytes_;
  std::function<bool(caf::actor_id)> accepts_;
  reply_check answers_;
  // What this node sends: the header being read and the payload bytes still to pass.
  std::vector<char> out_header_;
  uint64_t out_payload_left_ = 0;
  expecting next_ = expecting::header;
  uint8_t operation_ = 0;  // of the header whose payload comes next
  size_t payload_len_ = 0;
  std::string doom_;  // why the doomed message is dropped
  bool held_reply_ = false;  // the held message is a reply (else a request)
  bool handshake_seen_ = false;
  caf::node_id peer_;  // the node the connection's first handshake claimed
};

}  // namespace dmoe
