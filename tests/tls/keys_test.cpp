// A swarm's keys (runtime/swarm_keys.hpp, dmoe-keys): a CA and the members' certificates it
// issues verify, and serve a mutual TLS 1.3 handshake with OpenSSL; a certificate of another
// CA, or none, is refused.
#define CAF_SUITE tls.keys
#include <caf/test/unit_test.hpp>

#include <csignal>
#include <filesystem>
#include <thread>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "messages/errors.hpp"
#include "runtime/swarm_keys.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;

namespace {

struct keys_fixture {
  std::string dir = test::temp_dir("keys");
  std::string ca = dir + "/ca";
  std::string other_ca = dir + "/other-ca";
  std::string members = dir + "/members";

  keys_fixture() {
    signal(SIGPIPE, SIG_IGN);  // a refused peer may close while the other side still writes
    CAF_REQUIRE(!create_swarm_ca(ca));
    CAF_REQUIRE(!create_swarm_ca(other_ca));
    CAF_REQUIRE(!issue_node_certificate(ca, "server-0", members));
    CAF_REQUIRE(!issue_node_certificate(ca, "trainer-0", members));
    CAF_REQUIRE(!issue_node_certificate(other_ca, "stranger", dir + "/strangers"));
  }
  ~keys_fixture() {
    std::filesystem::remove_all(dir);
  }
};

/// One side of a TLS 1.3 connection that requires the peer's certificate to chain to `ca`;
/// empty certificate: this side presents none.
SSL_CTX* context(const std::string& ca, const std::string& certificate, const std::string& key) {
  auto* ctx = SSL_CTX_new(TLS_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  if (!certificate.empty()) {
    CAF_REQUIRE(SSL_CTX_use_certificate_chain_file(ctx, certificate.c_str()) == 1);
    CAF_REQUIRE(SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) == 1);
  }
  CAF_REQUIRE(SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) == 1);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return ctx;
}

/// Whether both ends of a handshake over a socket pair succeed.
bool handshake(SSL_CTX* server_ctx, SSL_CTX* client_ctx) {
  int fds[2];
  CAF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  auto* server = SSL_new(server_ctx);
  auto* client = SSL_new(client_ctx);
  SSL_set_fd(server, fds[0]);
  SSL_set_fd(client, fds[1]);
  int server_rc = 0;
  std::thread accepting{[&] {
    server_rc = SSL_accept(server);
    if (server_rc == 1) {  // a TLS 1.3 server learns of a refused client certificate on a read
      char byte = 0;
      server_rc = SSL_read(server, &byte, 1) == 1 ? 1 : 0;
    }
    shutdown(fds[0], SHUT_RDWR);
  }};
  int client_rc = SSL_connect(client);
  if (client_rc == 1)
    client_rc = SSL_write(client, "x", 1) == 1 ? 1 : 0;
  if (client_rc != 1)
    shutdown(fds[1], SHUT_RDWR);
  accepting.join();
  SSL_free(server);
  SSL_free(client);
  close(fds[0]);
  close(fds[1]);
  ERR_clear_error();
  return server_rc == 1 && client_rc == 1;
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(keys_tests, keys_fixture)

CAF_TEST(issued certificates verify against their CA and no other) {
  CAF_CHECK(!verify_node_certificate(ca + "/ca.pem", members + "/server-0.pem"));
  CAF_CHECK(!verify_node_certificate(members + "/ca.pem", members + "/trainer-0.pem"));
  auto refused = verify_node_certificate(ca + "/ca.pem", dir + "/strangers/stranger.pem");
  CAF_CHECK(refused);
  CAF_MESSAGE(describe(refused));
  CAF_CHECK(describe(refused).find("not a node certificate") != std::string::npos);
}

CAF_TEST(private keys are readable by their owner only) {
  struct stat st{};
  CAF_REQUIRE(stat((members + "/server-0.key").c_str(), &st) == 0);
  CAF_CHECK_EQUAL(st.st_mode & 0777, 0600u);
  CAF_REQUIRE(stat((ca + "/ca.key").c_str(), &st) == 0);
  CAF_CHECK_EQUAL(st.st_mode & 0777, 0600u);
}

CAF_TEST(a CA is made once and issues only under good names) {
  CAF_CHECK(create_swarm_ca(ca));  // ca.key exists
  CAF_CHECK(issue_node_certificate(ca, "../escape", members));
  CAF_CHECK(issue_node_certificate(ca, "", members));
  CAF_CHECK(issue_node_certificate(dir + "/nowhere", "node", members));
}

CAF_TEST(members complete a mutual TLS handshake and strangers do not) {
  auto member = [&](const std::string& name) {
    return context(ca + "/ca.pem", members + "/" + name + ".pem", members + "/" + name + ".key");
  };
  auto* server = member("server-0");
  auto* trainer = member("trainer-0");
  auto* stranger = context(ca + "/ca.pem", dir + "/strangers/stranger.pem",
                           dir + "/strangers/stranger.key");
  auto* anonymous = context(ca + "/ca.pem", "", "");
  auto* trusting_other = context(other_ca + "/ca.pem", dir + "/strangers/stranger.pem",
                                 dir + "/strangers/stranger.key");
  CAF_CHECK(handshake(server, trainer));
  CAF_CHECK(!handshake(server, stranger));   // a certificate of another CA
  CAF_CHECK(!handshake(server, anonymous));  // no certificate at all
  CAF_CHECK(!handshake(trusting_other, trainer));  // the server is the stranger
  for (auto* ctx : {server, trainer, stranger, anonymous, trusting_other})
    SSL_CTX_free(ctx);
}

CAF_TEST_FIXTURE_SCOPE_END()
