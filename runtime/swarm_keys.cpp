#include "runtime/swarm_keys.hpp"

#include <cstdio>
#include <filesystem>
#include <memory>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "messages/errors.hpp"

namespace dmoe {

namespace {

namespace fs = std::filesystem;

template <class T, void (*Free)(T*)>
struct freer {
  void operator()(T* x) const {
    Free(x);
  }
};
using key_ptr = std::unique_ptr<EVP_PKEY, freer<EVP_PKEY, EVP_PKEY_free>>;
using cert_ptr = std::unique_ptr<X509, freer<X509, X509_free>>;
using store_ptr = std::unique_ptr<X509_STORE, freer<X509_STORE, X509_STORE_free>>;
using store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, freer<X509_STORE_CTX, X509_STORE_CTX_free>>;
using bignum_ptr = std::unique_ptr<BIGNUM, freer<BIGNUM, BN_free>>;
using file_ptr = std::unique_ptr<FILE, decltype(&std::fclose)>;

/// OpenSSL's most recent error, for a message.
std::string openssl_error() {
  char text[256] = "unknown OpenSSL error";
  if (auto code = ERR_get_error(); code != 0)
    ERR_error_string_n(code, text, sizeof(text));
  ERR_clear_error();
  return text;
}

caf::error failure(const std::string& what) {
  return make_error(errc::internal, what + ": " + openssl_error());
}

/// Opens `path` for writing; `secret` files are created readable by their owner only.
file_ptr open_for_writing(const std::string& path, bool secret) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, secret ? 0600 : 0644);
  if (fd < 0)
    return {nullptr, std::fclose};
  if (secret)
    fchmod(fd, 0600);  // also when the file existed with wider rights
  return {fdopen(fd, "w"), std::fclose};
}

caf::error write_pem(const std::string& path, X509* cert) {
  auto out = open_for_writing(path, false);
  if (!out || PEM_write_X509(out.get(), cert) != 1)
    return make_error(errc::unavailable, "cannot write " + path);
  return caf::none;
}

caf::error write_pem(const std::string& path, EVP_PKEY* key) {
  auto out = open_for_writing(path, true);
  if (!out || PEM_write_PrivateKey(out.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return make_error(errc::unavailable, "cannot write " + path);
  return caf::none;
}

cert_ptr read_certificate(const std::string& path) {
  file_ptr in{std::fopen(path.c_str(), "r"), std::fclose};
  return cert_ptr{in ? PEM_read_X509(in.get(), nullptr, nullptr, nullptr) : nullptr};
}

key_ptr read_key(const std::string& path) {
  file_ptr in{std::fopen(path.c_str(), "r"), std::fclose};
  return key_ptr{in ? PEM_read_PrivateKey(in.get(), nullptr, nullptr, nullptr) : nullptr};
}

/// Adds extension `nid` = `value` (OpenSSL's config syntax) with `issuer` for key identifiers.
bool add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  auto* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr)
    return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

/// A certificate for `key` named `common_name`, valid from now for `days`, issued by `issuer`
/// (null: by itself) and signed with `signer`; `extensions` are (nid, value) pairs.
cert_ptr make_certificate(EVP_PKEY* key, const std::string& common_name, int days, X509* issuer,
                          EVP_PKEY* signer,
                          std::initializer_list<std::pair<int, const char*>> extensions) {
  cert_ptr cert{X509_new()};
  bignum_ptr serial{BN_new()};
  if (!cert || !serial || X509_set_version(cert.get(), 2) != 1
      || BN_rand(serial.get(), 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1
      || BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr
      || X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0) == nullptr
      || X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * days) == nullptr
      || X509_set_pubkey(cert.get(), key) != 1)
    return nullptr;
  auto* subject = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0)
        != 1
      || X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : subject) != 1)
    return nullptr;
  auto* issuer_cert = issuer ? issuer : cert.get();
  for (auto [nid, value] : extensions)
    if (!add_extension(cert.get(), issuer_cert, nid, value))
      return nullptr;
  if (X509_sign(cert.get(), signer, EVP_sha256()) == 0)
    return nullptr;
  return cert;
}

caf::error make_directory(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return make_error(errc::unavailable, "cannot create " + dir + ": " + ec.message());
  return caf::none;
}

}  // namespace

caf::error create_swarm_ca(const std::string& dir, int days) {
  if (days <= 0)
    return make_error(errc::invalid_argument, "a CA must be valid for at least one day");
  if (fs::exists(fs::path{dir} / "ca.key"))
    return make_error(errc::invalid_argument,
                      dir + "/ca.key exists: a swarm's CA is made once (remove it to start over)");
  if (auto err = make_directory(dir))
    return err;
  key_ptr key{EVP_EC_gen("P-256")};
  if (!key)
    return failure("cannot make the CA's key");
  auto cert = make_certificate(key.get(), "dmoe swarm CA", days, nullptr, key.get(),
                               {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                {NID_subject_key_identifier, "hash"}});
  if (!cert)
    return failure("cannot make the CA's certificate");
  if (auto err = write_pem(dir + "/ca.key", key.get()))
    return err;
  return write_pem(dir + "/ca.pem", cert.get());
}

caf::error issue_node_certificate(const std::string& ca_dir, const std::string& name,
                                  const std::string& out_dir, int days) {
  if (name.empty() || name.find_first_of("/\\") != std::string::npos || name[0] == '.')
    return make_error(errc::invalid_argument, "bad node name '" + name + "' (a file name is made of it)");
  if (days <= 0)
    return make_error(errc::invalid_argument, "a certificate must be valid for at least one day");
  auto ca_cert = read_certificate(ca_dir + "/ca.pem");
  auto ca_key = read_key(ca_dir + "/ca.key");
  if (!ca_cert || !ca_key)
    return make_error(errc::not_found, "no CA in " + ca_dir + " (ca.pem and ca.key; make one with "
                                         "dmoe-keys init)");
  if (X509_check_private_key(ca_cert.get(), ca_key.get()) != 1)
    return make_error(errc::invalid_argument, ca_dir + "/ca.key does not belong to ca.pem");
  if (auto err = make_directory(out_dir))
    return err;
  key_ptr key{EVP_EC_gen("P-256")};
  if (!key)
    return failure("cannot make the node's key");
  auto cert = make_certificate(key.get(), name, days, ca_cert.get(), ca_key.get(),
                               {{NID_basic_constraints, "critical,CA:FALSE"},
                                {NID_key_usage, "critical,digitalSignature"},
                                {NID_ext_key_usage, "serverAuth,clientAuth"},
                                {NID_subject_key_identifier, "hash"},
                                {NID_authority_key_identifier, "keyid:always"}});
  if (!cert)
    return failure("cannot make the node's certificate");
  if (auto err = write_pem(out_dir + "/" + name + ".key", key.get()))
    return err;
  if (auto err = write_pem(out_dir + "/" + name + ".pem", cert.get()))
    return err;
  if (fs::absolute(out_dir) == fs::absolute(ca_dir))
    return caf::none;
  return write_pem(out_dir + "/ca.pem", ca_cert.get());
}

caf::error verify_node_certificate(const std::string& ca_file,
                                   const std::string& certificate_file) {
  auto ca = read_certificate(ca_file);
  if (!ca)
    return make_error(errc::not_found, "cannot read a certificate from " + ca_file);
  auto cert = read_certificate(certificate_file);
  if (!cert)
    return make_error(errc::not_found, "cannot read a certificate from " + certificate_file);
  store_ptr store{X509_STORE_new()};
  store_ctx_ptr ctx{X509_STORE_CTX_new()};
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca.get()) != 1
      || X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1)
    return failure("cannot set up the verification");
  for (int purpose : {X509_PURPOSE_SSL_SERVER, X509_PURPOSE_SSL_CLIENT}) {
    X509_STORE_CTX_set_purpose(ctx.get(), purpose);
    if (X509_verify_cert(ctx.get()) != 1)
      return make_error(errc::invalid_argument,
                        certificate_file + " is not a node certificate of the CA " + ca_file + ": "
                          + X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));
    X509_STORE_CTX_cleanup(ctx.get());
    X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
  }
  return caf::none;
}

}  // namespace dmoe
