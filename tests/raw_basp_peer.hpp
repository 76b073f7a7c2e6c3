// A TCP connection to a node on loopback speaking BASP by hand: what a hostile peer sends
// when it does not run CAF.
#pragma once

#include <chrono>
#include <vector>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/io/basp/header.hpp>
#include <caf/io/basp/message_type.hpp>
#include <caf/node_id.hpp>
#include <caf/test/unit_test.hpp>

namespace dmoe::test {

namespace basp = caf::io::basp;

/// A TCP connection to the node speaking BASP by hand.
struct raw_peer {
  int fd = -1;

  explicit raw_peer(uint16_t port) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    CAF_REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  }
  ~raw_peer() {
    close(fd);
  }

  /// Reads exactly `n` bytes within `limit`; fewer when the node closes or stays silent.
  std::vector<char> read(size_t n, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    std::vector<char> out;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (out.size() < n) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0)
        break;
      char buf[4096];
      auto got = recv(fd, buf, std::min(sizeof(buf), n - out.size()), 0);
      if (got <= 0)
        break;
      out.insert(out.end(), buf, buf + got);
    }
    return out;
  }

  /// The node's server handshake: the node id it claims.
  caf::node_id read_handshake() {
    auto head = read(basp::header_size);
    CAF_REQUIRE_EQUAL(head.size(), basp::header_size);
    basp::header hdr;
    caf::binary_deserializer header_source{nullptr, head};
    CAF_REQUIRE(!header_source(hdr));
    CAF_REQUIRE(hdr.operation == basp::message_type::server_handshake);
    auto body = read(hdr.payload_len);
    CAF_REQUIRE_EQUAL(body.size(), hdr.payload_len);
    caf::node_id node;
    caf::binary_deserializer body_source{nullptr, body};
    CAF_REQUIRE(!body_source(node));
    return node;
  }

  void send_frame(basp::header hdr, const std::vector<char>& body = {}) {
    hdr.payload_len = hdr.payload_len != 0 ? hdr.payload_len : static_cast<uint32_t>(body.size());
    std::vector<char> bytes;
    caf::binary_serializer sink{nullptr, bytes};
    CAF_REQUIRE(!sink(hdr));
    bytes.insert(bytes.end(), body.begin(), body.end());
    CAF_REQUIRE_EQUAL(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
                      static_cast<ssize_t>(bytes.size()));
  }

  /// Whether the node closes the connection within `limit` (it sends nothing else meanwhile
  /// but heartbeats, which are read past).
  bool closed_by_node(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0)
        continue;
      char buf[4096];
      if (recv(fd, buf, sizeof(buf), 0) <= 0)
        return true;
    }
    return false;
  }
};

template <class... Ts>
std::vector<char> serialized(Ts&&... xs) {
  std::vector<char> out;
  caf::binary_serializer sink{nullptr, out};
  CAF_REQUIRE(!sink(std::forward<Ts>(xs)...));
  return out;
}

/// A node id no process here has.
inline caf::node_id stranger_id() {
  return *caf::make_node_id(4242, "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4");
}

}  // namespace dmoe::test
