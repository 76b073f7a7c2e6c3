#include "runtime/tls_scribe.hpp"

#include <algorithm>
#include <cstdint>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace dmoe {

namespace network = caf::io::network;

// ---- tls_policy ----

tls_policy::tls_policy(ssl_ptr ssl, bool established, handshake_callback done)
  : ssl_(std::move(ssl)), established_(established), done_(std::move(done)) {
}

tls_policy::rw_state tls_policy::advance_handshake() {
  ERR_clear_error();
  int ret = SSL_do_handshake(ssl_.get());
  if (ret == 1) {
    established_ = true;
    done_({true, false, tls_peer_name(ssl_.get())});
    return rw_state::success;
  }
  auto kind = SSL_get_error(ssl_.get(), ret);
  if (kind == SSL_ERROR_WANT_READ || kind == SSL_ERROR_WANT_WRITE)
    return rw_state::indeterminate;  // more of the peer's handshake is due
  bool silent = BIO_number_read(SSL_get_rbio(ssl_.get())) == 0;
  done_({false, silent, tls_failure(ssl_.get(), ret)});
  return rw_state::failure;
}

tls_policy::rw_state tls_policy::after_failed_call(size_t& result, int ret, bool reading) {
  result = 0;
  switch (SSL_get_error(ssl_.get(), ret)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      // Reading: wait for the next read event. Writing: stay registered for write events.
      return reading ? rw_state::indeterminate : rw_state::success;
    default:
      ERR_clear_error();
      return rw_state::failure;
  }
}

tls_policy::rw_state tls_policy::read_some(size_t& result, network::native_socket, void* buf,
                                           size_t len) {
  result = 0;
  if (!ssl_)
    return rw_state::failure;
  if (!established_) {
    auto state = advance_handshake();
    if (state != rw_state::success)
      return state;
  }
  if (len == 0)
    return rw_state::indeterminate;
  int ret = SSL_read(ssl_.get(), buf, static_cast<int>(std::min<size_t>(len, INT32_MAX)));
  if (ret > 0) {
    result = static_cast<size_t>(ret);
    return rw_state::success;
  }
  return after_failed_call(result, ret, true);
}

tls_policy::rw_state tls_policy::write_some(size_t& result, network::native_socket,
                                            const void* buf, size_t len) {
  result = 0;
  if (!ssl_ || !established_)
    return rw_state::failure;  // tls_scribe holds writes back until the handshake is done
  if (len == 0)
    return rw_state::indeterminate;
  int ret = SSL_write(ssl_.get(), buf, static_cast<int>(std::min<size_t>(len, INT32_MAX)));
  if (ret > 0) {
    result = static_cast<size_t>(ret);
    return rw_state::success;
  }
  return after_failed_call(result, ret, false);
}

bool tls_policy::must_read_more(network::native_socket, size_t threshold) const {
  return ssl_ && established_ && threshold > 0
         && static_cast<size_t>(SSL_pending(ssl_.get())) >= threshold;
}

// ---- tls_scribe: CAF's scribe_impl, over tls_policy ----

tls_scribe::tls_scribe(network::default_multiplexer& mx, network::native_socket fd, ssl_ptr ssl,
                       bool established, tls_policy::handshake_callback report)
  : caf::io::scribe(network::conn_hdl_from_socket(fd)),
    established_(established),
    report_(std::move(report)),
    session_(ssl.get()),
    stream_(mx, fd, std::move(ssl), established,
            [this](const tls_policy::outcome& result) { on_handshake(result); }) {
}

void tls_scribe::on_handshake(const tls_policy::outcome& result) {
  established_ = result.ok;
  if (report_)
    report_(result);
  if (result.ok && std::exchange(flush_held_, false))
    stream_.flush(this);
}

void tls_scribe::configure_read(caf::io::receive_policy::config config) {
  stream_.configure_read(config);
  if (!launched_)
    launch();
}

void tls_scribe::ack_writes(bool enable) {
  stream_.ack_writes(enable);
}

std::vector<char>& tls_scribe::wr_buf() {
  return stream_.wr_buf();
}

std::vector<char>& tls_scribe::rd_buf() {
  return stream_.rd_buf();
}

void tls_scribe::graceful_shutdown() {
  stream_.graceful_shutdown();
  detach(&stream_.backend(), false);
}

void tls_scribe::flush() {
  // stream_impl keeps the policy to itself; the handshake callback tells when it is done.
  if (!established_) {
    flush_held_ = true;
    return;
  }
  stream_.flush(this);
}

std::string tls_scribe::addr() const {
  auto x = network::remote_addr_of_fd(stream_.fd());
  return x ? *x : std::string{};
}

uint16_t tls_scribe::port() const {
  auto x = network::remote_port_of_fd(stream_.fd());
  return x ? *x : 0;
}

void tls_scribe::launch() {
  launched_ = true;
  stream_.start(this);
  read_held_bytes();
}

void tls_scribe::read_held_bytes() {
  // A dialed session holds the peer's first record already (tls_connect peeked at it), where
  // poll does not see it. A peer that has nothing more to send (a node answering a second
  // connection from a node it knows) would leave it there until the connection timed out:
  // read it as soon as the broker is done with the event that started this scribe.
  if (!established_ || session_ == nullptr || SSL_pending(session_) <= 0)
    return;
  caf::intrusive_ptr<tls_scribe> self{this};
  stream_.backend().post([self] {
    if (!self->detached())
      self->stream_.handle_event(network::operation::read);
  });
}

void tls_scribe::add_to_loop() {
  stream_.activate(this);
}

void tls_scribe::remove_from_loop() {
  stream_.passivate();
}

}  // namespace dmoe
