// The wire guard's state per actor system and what its parts share (runtime/wire_guard.hpp
// tells what the guard does): internal to the guard's files.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/scribe.hpp>
#include <caf/node_id.hpp>

#include "runtime/awaited_replies.hpp"
#include "runtime/logging.hpp"
#include "runtime/tls.hpp"
#include "runtime/warning_throttle.hpp"
#include "runtime/wire_guard.hpp"

namespace dmoe::wire_guard_detail {

/// A connection this node accepted, counted against the connection limits while it lives.
struct accepted_connection {
  int fd = -1;
  std::string address;
  std::chrono::steady_clock::time_point since;
  bool handshaken = false;  // under guard_state::mutex
};

struct guard_state {
  std::mutex mutex;
  wire_guard_options options;
  std::vector<std::shared_ptr<accepted_connection>> accepted;
  uint64_t pending_frame_bytes = 0;  // collected by every connection's frame in progress
  warning_throttle repeated;  // warnings about what a peer repeats at will
  awaited_replies awaiting;   // requests sent, per peer node, for the replies to match
  std::set<caf::actor_id> accepting;
  // Local "addr:port" of this node's latest outgoing connections, kept after they close: a
  // node dialing itself closes its end before the other end reads the handshake.
  std::deque<std::string> own_dials;
  // TLS sessions of dialed connections, until their scribe takes them (by descriptor).
  std::map<int, ssl_ptr> secured_dials;
  // Who each connected node is (runtime/peer_identity.hpp), set by the connection whose first
  // handshake named it, while that connection lives.
  struct identity {
    std::string who;
    const void* connection;
  };
  std::map<caf::node_id, identity> identities;
};

constexpr size_t remembered_dials = 256;
// The largest read a payload gets before its bytes arrive (see wire_guard.hpp).
constexpr size_t read_chunk = 64 << 10;

/// The guard's state of the actor system whose node is `node`.
std::shared_ptr<guard_state> state_of(const caf::node_id& node);

/// `what` at the warning level if the throttle of its kind and reason is due, else at the debug
/// level (runtime/warning_throttle.hpp); logged outside the guard's mutex.
void warn_throttled(guard_state& state, const char* kind, const std::string& reason,
                    spdlog::logger& log, const std::string& what);

std::string remote_address(caf::io::network::native_socket fd);

/// Whether a connection accepted on `fd` fits the connection limits, after closing accepted
/// connections that did not finish their handshakes in time if that makes room. A closed one
/// is shut down here; its scribe sees the end of the stream and goes the usual way.
bool admit(const caf::node_id& node, int fd);

/// The guarded scribe (plain or TLS, as the options say) of a connection on `fd`
/// (runtime/guarded_scribe.cpp).
caf::io::scribe_ptr make_scribe(caf::io::network::default_multiplexer& mx, int fd, bool outgoing);

}  // namespace dmoe::wire_guard_detail
