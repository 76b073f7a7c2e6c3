// Lies about sizes and origins, from plain CAF and from raw sockets speaking BASP: a message
// declaring a 2 GiB dmoe::payload in about 100 bytes, a BASP header claiming a 4 GiB frame, a
// routed message, a handshake claiming the node's own id. The node refuses each, stays up, its
// memory stays bounded and it answers afterwards.
#define CAF_SUITE integrity.oversized
#include <caf/test/unit_test.hpp>

#include <poll.h>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/io/basp/header.hpp>
#include <caf/io/basp/message_type.hpp>
#include <caf/io/middleman.hpp>

#include "tests/integrity/attack_fixture.hpp"
#include "tests/raw_basp_peer.hpp"

using namespace dmoe;
using namespace dmoe::test;
namespace basp = caf::io::basp;

namespace {

constexpr size_t rss_slack = size_t{64} << 20;

/// Serialized under the name "dmoe::payload", but claiming `claimed` bytes and holding 100.
struct forged_payload {
  uint64_t claimed = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, forged_payload& x) {
  if constexpr (std::is_same<Inspector, caf::serializer>::value) {
    std::vector<char> held(100, 'f');
    size_t claimed = x.claimed;
    if (auto err = f.begin_sequence(claimed))
      return err;
    if (auto err = f.apply_raw(held.size(), held.data()))
      return err;
    return f.end_sequence();
  } else {
    return f(caf::meta::type_name("forged_payload"), x.claimed);
  }
}


}  // namespace

CAF_TEST_FIXTURE_SCOPE(oversized_tests, victim_fixture)

CAF_TEST(a message declaring a 2 GiB payload in about 100 bytes is refused) {
  require_answers("start");
  auto rss_before = rss_bytes(node.pid);
  // A peer with plain CAF: its "dmoe::payload" is a type of its own that lies about its length.
  caf::actor_system_config attacker_cfg;
  attacker_cfg.load<caf::io::middleman>();
  attacker_cfg.add_message_type<forged_payload>("dmoe::payload");
  attacker_cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(200)});
  caf::actor_system attacker_system{attacker_cfg};
  auto target = remote_node(attacker_system, "127.0.0.1", port);
  CAF_REQUIRE(target);
  caf::scoped_actor attacker{attacker_system};
  bool answered = false;
  attacker
    ->request(*target, std::chrono::seconds(2), expert_rpc_atom::value,
              forged_payload{uint64_t{1} << 31})
    .receive([&](const caf::message&) { answered = true; }, [&](caf::error&) {});
  CAF_CHECK(!answered);  // dropped before it reached the gateway
  CAF_CHECK(alive());
  auto rss_after = rss_bytes(node.pid);
  CAF_MESSAGE("victim RSS " << rss_before / 1024 << " KiB before, " << rss_after / 1024
                            << " KiB after");
  CAF_CHECK_LESS(rss_after, rss_before + rss_slack);
  require_answers("the 2 GiB claim");
}

CAF_TEST(a BASP header claiming a 4 GiB frame closes the connection) {
  require_answers("start");
  auto rss_before = rss_bytes(node.pid);
  raw_peer peer{port};
  peer.read_handshake();
  peer.send_frame(basp::header{basp::message_type::direct_message, 0, 0xFFFFFFF0u, 0, 1, 1});
  CAF_CHECK(peer.closed_by_node());
  CAF_CHECK(alive());
  auto rss_after = rss_bytes(node.pid);
  CAF_MESSAGE("victim RSS " << rss_before / 1024 << " KiB before, " << rss_after / 1024
                            << " KiB after");
  CAF_CHECK_LESS(rss_after, rss_before + rss_slack);
  CAF_CHECK(log().find("exceeds limits.max-frame-bytes") != std::string::npos);
  require_answers("the 4 GiB header");
}

CAF_TEST(a routed message or a handshake with the id of the node closes the connection) {
  require_answers("start");
  {
    raw_peer peer{port};
    peer.read_handshake();
    auto me = serialized(stranger_id());
    peer.send_frame(basp::header{basp::message_type::client_handshake, 0, 0, 0, 0, 0}, me);
    // A message "from" the node itself, routed through this peer.
    auto claimed_nodes = serialized(stranger_id(), stranger_id());
    peer.send_frame(basp::header{basp::message_type::routed_message, 0, 0, 0, 1, 1},
                    claimed_nodes);
    CAF_CHECK(peer.closed_by_node());
  }
  {
    raw_peer peer{port};
    auto victim_id = peer.read_handshake();
    peer.send_frame(basp::header{basp::message_type::client_handshake, 0, 0, 0, 0, 0},
                    serialized(victim_id));
    CAF_CHECK(peer.closed_by_node());
  }
  CAF_CHECK(alive());
  auto text = log();
  CAF_CHECK(text.find("a routed message") != std::string::npos);
  CAF_CHECK(text.find("with this node's own id") != std::string::npos);
  require_answers("the routed message and the false handshake");
}

CAF_TEST_FIXTURE_SCOPE_END()
