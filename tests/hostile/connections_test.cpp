// Row 1 of the second round against hostile peers (runtime/wire_guard.hpp), against a real
// dmoe-node DHT node over loopback:
//   - 400 connections each send a BASP header announcing a payload just under
//     limits.max-frame-bytes and one byte of it, then go silent (before the guard read payloads
//     in chunks, this took a node from 162 MB to 2,995 MB);
//   - frames still arriving on several connections together pass
//     limits.max-pending-frame-bytes.
// The node's memory and descriptors stay bounded, refusals are logged a few times with a count,
// and honest peers (one connected before, one that comes after the handshake timeout) are still
// served.
#define CAF_SUITE hostile.connections
#include <caf/test/unit_test.hpp>

#include <filesystem>

#include <caf/binary_serializer.hpp>
#include <caf/io/basp/header.hpp>
#include <netinet/in.h>
#include <sys/socket.h>

#include "actors/dht/client.hpp"
#include "runtime/node_config.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;
using namespace std::chrono_literals;

namespace {

namespace basp = caf::io::basp;

constexpr uint32_t max_frame = 16u << 20;  // limits.max-frame-bytes' default
constexpr size_t per_address = 64;
constexpr size_t attackers = 400;

/// A socket connected to 127.0.0.1:`port` (-1 when the connect fails).
int dial(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
    if (fd >= 0)
      ::close(fd);
    return -1;
  }
  return fd;
}

/// A client handshake's BASP header announcing `payload_len` bytes.
std::vector<char> handshake_header(uint32_t payload_len) {
  basp::header hdr{basp::message_type::client_handshake, 0, payload_len, 0, 0, 0};
  std::vector<char> out;
  caf::binary_serializer sink{nullptr, out};
  CAF_REQUIRE(!sink(hdr));
  CAF_REQUIRE_EQUAL(out.size(), basp::header_size);
  return out;
}

bool send_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    auto n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

/// Whether the node closed `fd` (reads what it sent until the end or nothing more is there).
bool closed_by_peer(int fd) {
  char buf[4096];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0)
      return true;
    if (n < 0)
      return errno != EAGAIN && errno != EWOULDBLOCK;
  }
}

size_t open_descriptors(pid_t pid) {
  size_t n = 0;
  for ([[maybe_unused]] auto& entry :
       std::filesystem::directory_iterator{"/proc/" + std::to_string(pid) + "/fd"})
    ++n;
  return n;
}

struct fixture {
  std::string dir = temp_dir("hostile-connections");
  uint16_t port = free_port();
  std::vector<process> procs;
  std::vector<int> sockets;

  ~fixture() {
    for (auto fd : sockets)
      ::close(fd);
    kill_all_launched(procs);
    std::error_code ignored;  // a failed CAF_REQUIRE aborts before: its logs stay
    std::filesystem::remove_all(dir, ignored);
  }

  process& start_node(std::vector<std::string> extra) {
    std::vector<std::string> args{DMOE_NODE_BINARY,
                                  "--config-file=" DMOE_CONFIG_DIR "/dht-bootstrap.ini",
                                  "--node.port=" + std::to_string(port),
                                  // silent connections stay until the guard closes them
                                  "--middleman.connection-timeout=60s"};
    args.insert(args.end(), extra.begin(), extra.end());
    procs.push_back(launch(args, dir + "/node.log"));
    CAF_REQUIRE(procs.back().pid > 0);
    CAF_REQUIRE(wait_listening(port, 20s));
    return procs.back();
  }

  /// An honest peer: a DHT store and get through the node, from an actor system of its own.
  bool served(caf::actor_system& system, const std::string& key) {
    auto node = caf::actor_cast<dht::access_actor>(connect_node(system, port));
    if (!node)
      return false;
    auto stored = dht::store(system, node, key, "peer", "127.0.0.1:7000", dht::wall_clock() + 60);
    auto got = dht::get(system, node, key);
    return stored && got && got->items.size() == 1;
  }
};

/// An honest peer's actor system (the defaults of a node's config, heartbeats on).
struct honest_peer {
  node_config cfg;
  std::unique_ptr<caf::actor_system> system;

  honest_peer() {
    CAF_REQUIRE(!cfg.parse_and_validate(std::vector<std::string>{}));
    system = std::make_unique<caf::actor_system>(cfg);
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(hostile_connections, fixture)

CAF_TEST(stalled frames and a connection flood leave the node bounded and serving) {
  auto& node = start_node({"--limits.max-connections-per-address=" + std::to_string(per_address),
                           "--limits.handshake-timeout=2s"});
  honest_peer before;
  CAF_REQUIRE(served(*before.system, "before"));
  auto rss_before = rss_bytes(node.pid);
  auto fds_before = open_descriptors(node.pid);
  auto header = handshake_header(max_frame - 1);
  header.push_back('x');  // and the payload's first byte
  for (size_t i = 0; i < attackers; ++i) {
    auto fd = dial(port);
    if (fd < 0)
      continue;
    sockets.push_back(fd);
    send_all(fd, header.data(), header.size());
  }
  std::this_thread::sleep_for(1500ms);
  auto rss_attacked = rss_bytes(node.pid);
  auto fds_attacked = open_descriptors(node.pid);
  size_t still_open = 0;
  for (auto fd : sockets)
    still_open += closed_by_peer(fd) ? 0 : 1;
  auto grown_mb = (static_cast<double>(rss_attacked) - static_cast<double>(rss_before)) / (1 << 20);
  CAF_MESSAGE(sockets.size() << " attacking connections: " << still_open
              << " still open; node RSS " << rss_before / (1 << 20) << " MB -> "
              << rss_attacked / (1 << 20) << " MB, descriptors " << fds_before << " -> "
              << fds_attacked);
  CAF_CHECK_EQUAL(sockets.size(), attackers);
  // One honest connection and the attackers share the address's limit.
  CAF_CHECK_LESS_OR_EQUAL(still_open, per_address - 1);
  CAF_CHECK_LESS_OR_EQUAL(fds_attacked, fds_before + per_address);
  // Each open attacker holds at most one 64 KiB chunk (before: 16 MiB, zero-filled).
  CAF_CHECK_LESS(grown_mb, 64.0);
  CAF_CHECK(served(*before.system, "during"));
  // After the handshake timeout a new honest peer gets in: stale attackers give way.
  std::this_thread::sleep_for(1s);
  honest_peer after;
  CAF_CHECK(served(*after.system, "after"));
  auto log = read_file(node.log_path);
  auto warnings = count_occurrences(log, "refused ");
  CAF_MESSAGE("refusal warnings in the node's log: " << warnings);
  CAF_CHECK_GREATER_OR_EQUAL(warnings, 1u);
  CAF_CHECK_LESS_OR_EQUAL(warnings, 3u);  // at most one per 10 s, with a count
}

CAF_TEST(frames still arriving on many connections hold at most the pending budget) {
  constexpr size_t budget = 32u << 20;
  constexpr size_t streams = 8;
  constexpr size_t sent_each = 6u << 20;  // 48 MiB in all, over the budget
  auto& node = start_node({"--limits.max-pending-frame-bytes=" + std::to_string(budget)});
  auto rss_before = rss_bytes(node.pid);
  auto header = handshake_header(max_frame - 1);
  std::vector<char> chunk(1 << 20, 'x');
  for (size_t i = 0; i < streams; ++i) {
    auto fd = dial(port);
    CAF_REQUIRE(fd >= 0);
    sockets.push_back(fd);
    CAF_REQUIRE(send_all(fd, header.data(), header.size()));
  }
  for (size_t sent = 0; sent < sent_each; sent += chunk.size())
    for (auto fd : sockets)
      send_all(fd, chunk.data(), chunk.size());  // fails once the node closed this one
  std::this_thread::sleep_for(1500ms);
  size_t still_open = 0;
  for (auto fd : sockets)
    still_open += closed_by_peer(fd) ? 0 : 1;
  auto grown_mb = (static_cast<double>(rss_bytes(node.pid)) - static_cast<double>(rss_before))
                  / (1 << 20);
  CAF_MESSAGE(still_open << " of " << streams << " connections still open; RSS grew " << grown_mb
                         << " MB");
  CAF_CHECK_LESS_OR_EQUAL(still_open * sent_each, budget);
  CAF_CHECK_GREATER(still_open, 0u);
  CAF_CHECK_LESS(grown_mb, 96.0);
  honest_peer honest;
  CAF_CHECK(served(*honest.system, "honest"));
  CAF_CHECK_GREATER_OR_EQUAL(count_occurrences(read_file(node.log_path), "max-pending-frame-bytes"),
                             1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
