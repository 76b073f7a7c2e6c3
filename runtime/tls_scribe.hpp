// A CAF 0.17 scribe that speaks TLS (runtime/tls.hpp) on its socket: CAF's own scribe_impl with
// SSL_read/SSL_write in place of recv/send. The wire guard (runtime/wire_guard.hpp) puts its
// checks on top of it as it does on the plain scribe.
//
// A connection this node dialed arrives with its handshake done (tls_connect, on the dialing
// thread). A connection it accepted does its handshake here, driven by read events: what the
// BASP broker writes (its server handshake) is held back until the peer has proven membership,
// so nothing but TLS records leaves this node for a stranger, and the write side is never
// polled while the handshake waits for the peer (no busy loop for one round trip).
#pragma once

#include <functional>
#include <string>

#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/stream_impl.hpp>
#include <caf/io/scribe.hpp>

#include "runtime/tls.hpp"

namespace dmoe {

/// stream_impl's protocol policy for a TLS session.
class tls_policy {
public:
  using rw_state = caf::io::network::rw_state;
  /// How an accepted connection's handshake ended.
  struct outcome {
    bool ok;
    bool silent;         // the peer closed without sending a byte (a port probe)
    std::string detail;  // ok: the peer's name (CN); else OpenSSL's reason
  };
  /// Told once how the handshake ended.
  using handshake_callback = std::function<void(const outcome&)>;

  tls_policy(ssl_ptr ssl, bool established, handshake_callback done);

  rw_state read_some(size_t& result, caf::io::network::native_socket fd, void* buf, size_t len);
  rw_state write_some(size_t& result, caf::io::network::native_socket fd, const void* buf,
                      size_t len);
  /// Decrypted bytes kept inside OpenSSL are never seen by poll: read them first.
  bool must_read_more(caf::io::network::native_socket fd, size_t threshold) const;

private:
  rw_state advance_handshake();
  rw_state after_failed_call(size_t& result, int ret, bool reading);

  ssl_ptr ssl_;
  bool established_;
  handshake_callback done_;
};

/// CAF's scribe_impl over a TLS session instead of plain TCP.
class tls_scribe : public caf::io::scribe {
public:
  /// `ssl` on `fd`: established (dialed), or a fresh accepting session whose handshake this
  /// scribe runs and then tells `report` about.
  /// Without a session every read fails: the connection closes at once.
  tls_scribe(caf::io::network::default_multiplexer& mx, caf::io::network::native_socket fd,
             ssl_ptr ssl, bool established, tls_policy::handshake_callback report);

  void configure_read(caf::io::receive_policy::config config) override;
  void ack_writes(bool enable) override;
  std::vector<char>& wr_buf() override;
  std::vector<char>& rd_buf() override;
  void graceful_shutdown() override;
  void flush() override;
  std::string addr() const override;
  uint16_t port() const override;
  void add_to_loop() override;
  void remove_from_loop() override;

private:
  void launch();
  void read_held_bytes();
  void on_handshake(const tls_policy::outcome& result);

  bool launched_ = false;
  bool flush_held_ = false;  // the broker flushed before the peer proved membership
  bool established_;         // the handshake is done (stream_impl keeps its policy private)
  tls_policy::handshake_callback report_;
  SSL* session_;  // owned by stream_'s policy
  caf::io::network::stream_impl<tls_policy> stream_;
};

}  // namespace dmoe
