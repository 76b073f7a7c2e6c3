#include "runtime/tls.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include <poll.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "messages/errors.hpp"
#include "runtime/node_dial.hpp"
#include "runtime/swarm_keys.hpp"

namespace dmoe {

namespace {

// ---- a socket BIO that never raises SIGPIPE ----
// OpenSSL's own socket BIO writes with write(2): a peer that closed its end would kill the
// process with SIGPIPE. This one sends with MSG_NOSIGNAL, as CAF does for plain TCP.

int socket_of(BIO* bio) {
  return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio)));
}

bool would_block(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

int socket_write(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  auto sent = send(socket_of(bio), data, static_cast<size_t>(size), MSG_NOSIGNAL);
  if (sent < 0 && would_block(errno))
    BIO_set_retry_write(bio);
  return static_cast<int>(sent);
}

int socket_read(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  auto got = recv(socket_of(bio), data, static_cast<size_t>(size), 0);
  if (got < 0 && would_block(errno))
    BIO_set_retry_read(bio);
  return static_cast<int>(got);
}

long socket_ctrl(BIO* bio, int command, long, void* ptr) {
  switch (command) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_C_GET_FD:
      if (ptr != nullptr)
        *static_cast<int*>(ptr) = socket_of(bio);
      return socket_of(bio);
    default:
      return 0;
  }
}

BIO_METHOD* socket_method() {
  static BIO_METHOD* method = [] {
    auto* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                           "dmoe socket");
    BIO_meth_set_write(m, socket_write);
    BIO_meth_set_read(m, socket_read);
    BIO_meth_set_ctrl(m, socket_ctrl);
    return m;
  }();
  return method;
}

// ---- errors ----

std::string drain_error_queue() {
  std::string text;
  while (auto code = ERR_get_error()) {
    const char* reason = ERR_SYSTEM_ERROR(code) ? std::strerror(ERR_GET_REASON(code))
                                                : ERR_reason_error_string(code);
    std::string part = reason != nullptr ? reason : "OpenSSL error " + std::to_string(code);
    if (part == "system lib" || text.find(part) != std::string::npos)
      continue;  // the library's wrapper of the reason already given
    text += (text.empty() ? "" : "; ") + part;
  }
  return text;
}

caf::error load_error(const std::string& what) {
  auto why = drain_error_queue();
  return make_error(errc::invalid_argument, "tls: " + what + (why.empty() ? "" : ": " + why));
}

std::string common_name(X509* certificate) {
  if (certificate == nullptr)
    return "?";
  char name[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, name,
                                sizeof(name))
      < 0)
    return "?";
  return name;
}

EVP_PKEY* read_private_key(const std::string& path) {
  std::unique_ptr<FILE, decltype(&fclose)> file{fopen(path.c_str(), "r"), fclose};
  if (!file) {
    ERR_raise_data(ERR_LIB_SYS, errno, "%s", path.c_str());
    return nullptr;
  }
  return PEM_read_PrivateKey(file.get(), nullptr, nullptr, nullptr);
}

using clock_type = std::chrono::steady_clock;

}  // namespace

void ssl_deleter::operator()(SSL* ssl) const {
  SSL_free(ssl);
}

caf::expected<std::shared_ptr<tls_context>> tls_context::load(const tls_options& options) {
  for (auto [value, key] : {std::pair{&options.ca, "tls.ca"},
                            std::pair{&options.certificate, "tls.certificate"},
                            std::pair{&options.key, "tls.key"}})
    if (value->empty())
      return make_error(errc::invalid_argument,
                        std::string{"tls: '"} + key
                          + "' is missing: TLS needs tls.ca, tls.certificate and tls.key "
                            "(dmoe-keys issues them)");
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  if (ctx == nullptr)
    return load_error("cannot create an OpenSSL context");
  std::shared_ptr<tls_context> context{new tls_context(ctx, {})};
  if (SSL_CTX_use_certificate_chain_file(ctx, options.certificate.c_str()) != 1)
    return load_error("cannot read tls.certificate '" + options.certificate + "'");
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{read_private_key(options.key),
                                                           EVP_PKEY_free};
  if (!key)
    return load_error("cannot read tls.key '" + options.key + "'");
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1)
    return load_error("tls.key '" + options.key + "' does not belong to tls.certificate '"
                      + options.certificate + "'");
  if (SSL_CTX_load_verify_locations(ctx, options.ca.c_str(), nullptr) != 1)
    return load_error("cannot read tls.ca '" + options.ca + "'");
  if (auto err = verify_node_certificate(options.ca, options.certificate))
    return make_error(errc::invalid_argument,
                      "tls: tls.certificate '" + options.certificate
                        + "' is not a member certificate of tls.ca '" + options.ca
                        + "': " + message_of(err));
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  // Every connection proves membership anew: no tickets, no resumption.
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  // CAF's stream writes what it can and retries the rest from the same buffer position.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  context->own_name_ = common_name(SSL_CTX_get0_certificate(ctx));
  return context;
}

tls_context::tls_context(SSL_CTX* ctx, std::string own_name)
  : ctx_(ctx), own_name_(std::move(own_name)) {
}

tls_context::~tls_context() {
  SSL_CTX_free(ctx_);
}

ssl_ptr tls_context::session(int fd, bool accepting) const {
  ssl_ptr ssl{SSL_new(ctx_)};
  if (!ssl)
    return ssl;
  BIO* bio = BIO_new(socket_method());
  if (bio == nullptr)
    return nullptr;
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl.get(), bio, bio);
  if (accepting)
    SSL_set_accept_state(ssl.get());
  else
    SSL_set_connect_state(ssl.get());
  return ssl;
}

std::string tls_failure(SSL* ssl, int ret) {
  auto kind = SSL_get_error(ssl, ret);
  auto queue = drain_error_queue();
  auto verified = SSL_get_verify_result(ssl);
  if (verified != X509_V_OK)
    return std::string{"the peer's certificate was refused ("}
           + X509_verify_cert_error_string(verified) + ")";
  if (!queue.empty())
    return queue;
  if (kind == SSL_ERROR_ZERO_RETURN)
    return "the peer ended the TLS session";
  if (kind == SSL_ERROR_SYSCALL)
    return "the connection closed (not a TLS peer, or it refused this node)";
  return "TLS error " + std::to_string(kind);
}

std::string tls_peer_name(SSL* ssl) {
  return common_name(SSL_get0_peer_certificate(ssl));
}

caf::expected<ssl_ptr> tls_connect(const tls_context& context, int fd,
                                   clock_type::time_point deadline) {
  auto fail = [](const std::string& why) -> caf::expected<ssl_ptr> {
    return make_error(errc::unavailable, why);
  };
  ERR_clear_error();
  auto ssl = context.session(fd, false);
  if (!ssl)
    return fail("cannot start a TLS session: " + drain_error_queue());
  // Waits for what the last call wants; false when it failed or the deadline passed.
  auto wait_as_told = [&](int ret, std::string& why) {
    auto kind = SSL_get_error(ssl.get(), ret);
    short events = kind == SSL_ERROR_WANT_READ ? POLLIN : kind == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (events == 0) {
      why = tls_failure(ssl.get(), ret);
      return false;
    }
    if (int err = wait_for(fd, events, deadline); err != 0) {
      why = err == ETIMEDOUT ? "no answer in time" : std::strerror(err);
      return false;
    }
    return true;
  };
  std::string why;
  for (;;) {
    int ret = SSL_do_handshake(ssl.get());
    if (ret == 1)
      break;
    if (!wait_as_told(ret, why))
      return fail("TLS handshake failed: " + why);
  }
  // In TLS 1.3 the client finishes first: the server's verdict on this node's certificate,
  // and then its BASP handshake, come after.
  for (;;) {
    char byte = 0;
    int ret = SSL_peek(ssl.get(), &byte, 1);
    if (ret > 0)
      return ssl;
    if (!wait_as_told(ret, why))
      return fail("TLS peer " + tls_peer_name(ssl.get()) + " did not let this node in: " + why);
  }
}

}  // namespace dmoe
