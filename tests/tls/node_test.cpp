// A real dmoe-node with [tls] on loopback admits the swarm's members only: a member's DHT and
// expert calls are answered; a plain CAF client, raw BASP bytes, a client holding another CA's
// certificate and one holding none are refused before any BASP byte leaves the node, and the
// node keeps serving members. A member does not connect to a node outside the swarm either,
// and a node with unusable TLS files does not start.
#define CAF_SUITE tls.node
#include <caf/test/unit_test.hpp>

#include <csignal>
#include <filesystem>

#include <poll.h>

#include <caf/scoped_actor.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <torch/types.h>

#include "actors/dht/node.hpp"
#include "messages/errors.hpp"
#include "messages/type_ids.hpp"
#include "runtime/expert_codec.hpp"
#include "runtime/node_config.hpp"
#include "runtime/node_dial.hpp"
#include "runtime/swarm_keys.hpp"
#include "runtime/wire_guard.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;

namespace {

constexpr int64_t hidden = 16;
constexpr auto call_timeout = std::chrono::seconds(10);
constexpr auto dial_timeout = std::chrono::milliseconds(3000);

/// One process's actor system, dialing with `tls` (none: plain TCP).
struct client {
  node_config cfg;
  std::unique_ptr<caf::actor_system> system;

  explicit client(const tls_options& tls,
                  caf::timespan heartbeat = caf::timespan{default_heartbeat_interval}) {
    CAF_REQUIRE(!cfg.parse_and_validate(std::vector<std::string>{}));
    cfg.set("middleman.heartbeat-interval", heartbeat);
    system = std::make_unique<caf::actor_system>(cfg);
    wire_guard_options guard;
    guard.log_name = "test/wire";
    CAF_REQUIRE(!set_wire_guard_options(*system, guard, tls));
  }

  caf::expected<caf::actor> dial(uint16_t port) {
    return dial_node(*system, "127.0.0.1", port, dial_timeout);
  }
};

struct tls_node_fixture {
  std::string dir = temp_dir("tls-node");
  uint16_t port = free_port();
  process node;

  tls_node_fixture() {
    signal(SIGPIPE, SIG_IGN);  // raw clients write to a node that may have closed on them
    CAF_REQUIRE(!create_swarm_ca(dir + "/ca"));
    CAF_REQUIRE(!issue_node_certificate(dir + "/ca", "node", dir + "/members"));
    CAF_REQUIRE(!issue_node_certificate(dir + "/ca", "member", dir + "/members"));
    CAF_REQUIRE(!create_swarm_ca(dir + "/other-ca"));
    CAF_REQUIRE(!issue_node_certificate(dir + "/other-ca", "stranger", dir + "/strangers"));
    node = launch(node_args(member_tls("node")), dir + "/node.log");
    CAF_REQUIRE(node.pid > 0);
    CAF_REQUIRE(wait_listening(port, std::chrono::seconds(20)));
  }

  ~tls_node_fixture() {
    kill_launched(node.pid);
    std::filesystem::remove_all(dir);
  }

  tls_options member_tls(const std::string& name) const {
    return {dir + "/members/ca.pem", dir + "/members/" + name + ".pem",
            dir + "/members/" + name + ".key"};
  }

  std::vector<std::string> node_args(const tls_options& tls) const {
    return {DMOE_NODE_BINARY, "--config-file=" DMOE_CONFIG_DIR "/server.ini",
            "--node.name=\"tls-node\"", "--node.port=" + std::to_string(port),
            "--dht.bootstrap=[]", "--server.expert-pattern=\"ffn.[0:1].[0:2]\"",
            "--server.hidden=" + std::to_string(hidden), "--tls.ca=\"" + tls.ca + "\"",
            "--tls.certificate=\"" + tls.certificate + "\"", "--tls.key=\"" + tls.key + "\""};
  }

  std::string log() const {
    return read_file(node.log_path);
  }

  /// Whether a member is served: a DHT summary and a forward call through the gateway. The
  /// node listens before its roles are up, so the first calls may find them starting.
  bool member_is_served() {
    client member{member_tls("member")};
    auto gateway = member.dial(port);
    if (!gateway) {
      CAF_MESSAGE("member dial: " << describe(gateway.error()));
      return false;
    }
    // Per-peer limits know a member by its certificate (runtime/peer_identity.hpp).
    CAF_CHECK_EQUAL(peer_identity(*member.system, gateway->node()), "member node");
    caf::scoped_actor self{*member.system};
    bool dht_ok = false;
    int64_t rows = 0;
    return poll_until(
      [&] {
        self->request(*gateway, call_timeout, dht::dht_info_atom::value)
          .receive([&](std::string&) { dht_ok = true; }, [&](caf::error&) {});
        auto call = encode(expert_call{forward_call{"ffn.0.1", {torch::randn({3, hidden})}}});
        self->request(*gateway, call_timeout, expert_rpc_atom::value, std::move(call))
          .receive(
            [&](payload& reply) {
              auto decoded = decode_expert_reply(std::move(reply));
              if (decoded)
                if (auto* fwd = std::get_if<forward_result>(&*decoded))
                  rows = fwd->outputs.at(0).size(0);
            },
            [&](caf::error&) {});
        return dht_ok && rows == 3;
      },
      std::chrono::seconds(20), std::chrono::milliseconds(200));
  }
};

/// A TCP connection to 127.0.0.1:`port` (blocking).
int tcp_connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  CAF_REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  return fd;
}

/// Everything the peer sends on `fd` until it closes or `limit` passes; `closed` says which.
std::string read_until_closed(int fd, std::chrono::milliseconds limit, bool& closed) {
  std::string got;
  closed = false;
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return got;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0)
      continue;
    char buf[4096];
    auto n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      closed = true;
      return got;
    }
    got.append(buf, static_cast<size_t>(n));
  }
}

/// A raw OpenSSL client trusting the swarm's CA and presenting `certificate` (none if empty):
/// whether the node let it read anything after the handshake.
bool raw_tls_client_gets_in(uint16_t port, const std::string& ca, const std::string& certificate,
                            const std::string& key, std::string& why) {
  auto* ctx = SSL_CTX_new(TLS_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  CAF_REQUIRE(SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) == 1);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!certificate.empty()) {
    CAF_REQUIRE(SSL_CTX_use_certificate_chain_file(ctx, certificate.c_str()) == 1);
    CAF_REQUIRE(SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) == 1);
  }
  int fd = tcp_connect(port);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  auto* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  bool in = false;
  if (SSL_connect(ssl) != 1) {
    why = "handshake failed";
  } else {
    char byte = 0;  // the node's BASP handshake, if it let this client in
    auto n = SSL_read(ssl, &byte, 1);
    in = n == 1;
    char text[256] = {0};
    ERR_error_string_n(ERR_peek_last_error(), text, sizeof(text));
    why = in ? "read a byte" : text;
  }
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
  return in;
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(tls_node_tests, tls_node_fixture)

CAF_TEST(a member of the swarm is served) {
  if (!member_is_served()) {
    CAF_MESSAGE(log());
    CAF_FAIL("a member got no answers");
  }
  CAF_CHECK_NOT_EQUAL(log().find("TLS: only members of the swarm CA"), std::string::npos);
}

CAF_TEST(every dial of a member gets through) {
  // CAF's broker takes a dialed connection as last heard from at the clock's epoch until the
  // peer's handshake is read: a heartbeat tick handled in between closed it at once
  // (connection_timeout), which the guard's scribe prevents. A dialer ticking every 2 ms makes
  // that window wide.
  CAF_REQUIRE(member_is_served());
  constexpr int dials = 20;
  int failed = 0;
  for (int i = 0; i < dials; ++i) {
    client member{member_tls("member"), std::chrono::milliseconds(2)};
    if (auto gateway = member.dial(port); !gateway) {
      ++failed;
      CAF_MESSAGE("dial " << i << ": " << describe(gateway.error()));
    }
  }
  CAF_CHECK_EQUAL(failed, 0);
}

CAF_TEST(a member dials back a member that dialed it) {
  // Averaging dials each reducer, which may have dialed this node before. The node answering a
  // second connection from a node it knows sends nothing after its handshake, which tls_connect
  // has read into the session already: unless the scribe reads it at once, the dial ends in
  // connection_timeout (every averaging round in the main job lost its reducer).
  client a{member_tls("member")};
  client b{member_tls("member")};
  std::vector<caf::actor> echoes;
  auto published_at = [&](client& c) {
    auto echo = c.system->spawn([]() -> caf::behavior { return {[](int32_t x) { return x; }}; });
    echoes.push_back(echo);
    auto bound = publish_guarded(*c.system, echo, 0, "127.0.0.1", true);
    CAF_REQUIRE(bound);
    return *bound;
  };
  auto a_port = published_at(a);
  auto b_port = published_at(b);
  auto b_to_a = b.dial(a_port);
  CAF_REQUIRE(b_to_a);
  for (int i = 0; i < 3; ++i) {
    auto a_to_b = a.dial(b_port);
    if (!a_to_b)
      CAF_MESSAGE("dial back " << i << ": " << describe(a_to_b.error()));
    CAF_CHECK(a_to_b);
  }
  for (auto& echo : echoes)
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
}

CAF_TEST(a plain client gets no byte and is refused) {
  // dmoe's own dialer without TLS waits for the BASP handshake that never comes.
  client plain{tls_options{}};
  auto dialed = plain.dial(port);
  CAF_REQUIRE(!dialed);
  CAF_MESSAGE("plain dial: " << describe(dialed.error()));
  CAF_CHECK_NOT_EQUAL(message_of(dialed.error()).find("no handshake"), std::string::npos);
  // A client that speaks BASP first (a client handshake's header) is cut off, unanswered.
  int fd = tcp_connect(port);
  std::string basp_header(32, '\0');
  basp_header[0] = 1;  // client_handshake
  basp_header[7] = 100;  // payload length 100
  CAF_REQUIRE(send(fd, basp_header.data(), basp_header.size(), 0) == 32);
  bool closed = false;
  auto got = read_until_closed(fd, std::chrono::seconds(10), closed);
  close(fd);
  CAF_CHECK(closed);
  CAF_CHECK(got.find("\x15\x03") == 0 || got.empty());  // at most a TLS alert, never BASP
  CAF_CHECK(poll_until([&] { return log().find("refused a connection from 127.0.0.1") != std::string::npos; },
                       std::chrono::seconds(5)));
  CAF_CHECK(member_is_served());
}

CAF_TEST(a client with a certificate of another CA or none is refused) {
  std::string why;
  CAF_CHECK(!raw_tls_client_gets_in(port, dir + "/members/ca.pem",
                                    dir + "/strangers/stranger.pem",
                                    dir + "/strangers/stranger.key", why));
  CAF_MESSAGE("another CA's certificate: " << why);
  CAF_CHECK(!raw_tls_client_gets_in(port, dir + "/members/ca.pem", "", "", why));
  CAF_MESSAGE("no certificate: " << why);
  // The same client with a member's certificate does get in: the refusals above can fail.
  CAF_CHECK(raw_tls_client_gets_in(port, dir + "/members/ca.pem", dir + "/members/member.pem",
                                   dir + "/members/member.key", why));
  CAF_CHECK(poll_until(
    [&] { return log().find("the peer's certificate was refused") != std::string::npos; },
    std::chrono::seconds(5)));
  CAF_CHECK(member_is_served());
}

CAF_TEST(a member does not connect to a node outside the swarm) {
  // A stranger's node: plain CAF over the guard, in this process.
  client stranger{tls_options{}};
  auto gateway = stranger.system->spawn([]() -> caf::behavior { return {[](int x) { return x; }}; });
  auto stranger_port = publish_guarded(*stranger.system, gateway, 0, "127.0.0.1", true);
  CAF_REQUIRE(stranger_port);
  client member{member_tls("member")};
  auto dialed = member.dial(*stranger_port);
  CAF_REQUIRE(!dialed);
  CAF_MESSAGE("member dialing a plain node: " << describe(dialed.error()));
  CAF_CHECK_NOT_EQUAL(message_of(dialed.error()).find("TLS handshake failed"), std::string::npos);
  stranger.system->middleman().unpublish(gateway, *stranger_port);
  caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
}

CAF_TEST(a node with unusable TLS files does not start) {
  auto other_port = free_port();
  auto args = node_args(member_tls("node"));
  args[3] = "--node.port=" + std::to_string(other_port);
  // the member's key with the node's certificate
  auto mismatched = args;
  mismatched.back() = "--tls.key=\"" + dir + "/members/member.key\"";
  auto p = launch(mismatched, dir + "/mismatched.log");
  CAF_CHECK_EQUAL(wait_exit(p.pid, std::chrono::seconds(20)), 2);
  CAF_CHECK_NOT_EQUAL(read_file(dir + "/mismatched.log").find("does not belong"), std::string::npos);
  // a certificate of another CA
  auto foreign = node_args({dir + "/members/ca.pem", dir + "/strangers/stranger.pem",
                            dir + "/strangers/stranger.key"});
  foreign[3] = "--node.port=" + std::to_string(other_port);
  p = launch(foreign, dir + "/foreign.log");
  CAF_CHECK_EQUAL(wait_exit(p.pid, std::chrono::seconds(20)), 2);
  CAF_CHECK_NOT_EQUAL(read_file(dir + "/foreign.log").find("is not a member certificate"),
                      std::string::npos);
  // a CA file alone
  auto partial = args;
  partial.resize(partial.size() - 2);
  p = launch(partial, dir + "/partial.log");
  CAF_CHECK_EQUAL(wait_exit(p.pid, std::chrono::seconds(20)), 2);
  CAF_CHECK_NOT_EQUAL(read_file(dir + "/partial.log").find("'tls.certificate' is missing"),
                      std::string::npos);
}

CAF_TEST(half-open TLS handshakes give way to members after the handshake timeout) {
  // Connections that never send a TLS hello: at most the per-address limit hold a descriptor,
  // and once the handshake timeout passed a member's connection takes their place.
  kill_launched(node.pid);
  auto args = node_args(member_tls("node"));
  args.push_back("--limits.max-connections-per-address=16");
  args.push_back("--limits.handshake-timeout=2s");
  node = launch(args, dir + "/node-limited.log");
  CAF_REQUIRE(node.pid > 0);
  CAF_REQUIRE(wait_listening(port, std::chrono::seconds(20)));
  std::vector<int> silent;
  for (int i = 0; i < 100; ++i)
    if (auto fd = tcp_connect(port); fd >= 0)
      silent.push_back(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  size_t open = 0;
  for (auto fd : silent) {
    char byte = 0;
    auto n = recv(fd, &byte, 1, MSG_DONTWAIT);
    open += n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 1 : 0;
  }
  CAF_MESSAGE(silent.size() << " silent connections, " << open << " still open");
  CAF_CHECK_EQUAL(silent.size(), 100u);
  CAF_CHECK_LESS_OR_EQUAL(open, 16u);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  CAF_CHECK(member_is_served());
  for (auto fd : silent)
    close(fd);
}

CAF_TEST_FIXTURE_SCOPE_END()
