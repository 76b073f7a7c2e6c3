// TLS between swarm members, with OpenSSL 3: a node configured with a [tls] group (the swarm's
// CA certificate, its own certificate and key, runtime/swarm_keys.hpp makes them) accepts
// only peers whose certificate that CA signed, and connects only to such peers. The handshake
// is mutual (both sides present and verify a certificate), TLS 1.3 only, no session tickets or
// resumption: every connection proves membership anew.
//
// This file holds what does not depend on CAF's I/O: the shared context, a connection's
// session on a non-blocking socket, and the blocking client handshake dialing uses. The
// server side runs its handshake inside the connection's scribe (runtime/tls_scribe.hpp).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "runtime/options.hpp"

using SSL_CTX = struct ssl_ctx_st;
using SSL = struct ssl_st;

namespace dmoe {

struct ssl_deleter {
  void operator()(SSL* ssl) const;
};
using ssl_ptr = std::unique_ptr<SSL, ssl_deleter>;

/// One node's TLS settings, loaded and checked once; shared by all its connections.
class tls_context {
public:
  /// Loads and checks the files of `options` (each readable, the key matching the certificate,
  /// the certificate issued by the CA and valid now); an error naming the file otherwise.
  static caf::expected<std::shared_ptr<tls_context>> load(const tls_options& options);

  ~tls_context();
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  /// A session on the non-blocking socket `fd` (not owned), as the accepting or the connecting
  /// side; its handshake has not started.
  ssl_ptr session(int fd, bool accepting) const;

  /// The name (CN) in this node's own certificate.
  const std::string& own_name() const {
    return own_name_;
  }

private:
  explicit tls_context(SSL_CTX* ctx, std::string own_name);

  SSL_CTX* ctx_;
  std::string own_name_;
};

/// What a TLS call's failure means, for logs and errors: the verification result when the
/// peer's certificate was refused, else OpenSSL's error queue (which this empties).
std::string tls_failure(SSL* ssl, int ret);

/// The name (CN) in the verified certificate of the peer of `ssl`; "?" without one.
std::string tls_peer_name(SSL* ssl);

/// The client side's handshake on `fd` (non-blocking, connected) until `deadline`, then waits
/// until the peer's first application bytes are readable; errc::unavailable says why not.
caf::expected<ssl_ptr> tls_connect(const tls_context& context, int fd,
                                   std::chrono::steady_clock::time_point deadline);

}  // namespace dmoe
