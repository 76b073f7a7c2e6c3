// Rows 11 and 7 of the second round against hostile peers, against a real dmoe-node (DHT and
// inspector roles). Signature checks a peer can make a DHT node do: a store of more items than a
// key may hold (dht.max-subkeys, 1,024) is refused before any check (before: one signed item
// repeated 4,096 times cost 4,096 Ed25519 verifications on the DHT actor), and one validly
// signed item repeated 1,024 times is checked once and stored once. A key filled past what a
// lookup's answer can carry (dht.max-key-bytes): before, another node's lookup of it found
// nothing; now the stores past the limit are refused and the lookup finds what was stored.
// Row 7's per-peer quota (dht.max-peer-stored-mb): a peer's stores count against who it is (its
// address here), so one address cannot fill a node, while a peer from another address stores.
#define CAF_SUITE hostile.dht
#include <caf/test/unit_test.hpp>

#include <filesystem>
#include <regex>

#include <caf/scoped_actor.hpp>

#include "actors/dht/client.hpp"
#include "actors/dht/node.hpp"
#include "actors/dht/node_id.hpp"
#include "actors/dht/ownership.hpp"
#include "actors/inspector/inspector.hpp"
#include "messages/errors.hpp"
#include "messages/type_ids.hpp"
#include "runtime/node_config.hpp"
#include "runtime/node_dial.hpp"
#include "runtime/options.hpp"
#include "runtime/wire_guard.hpp"
#include "tests/hostile/dht_victim.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;
using namespace std::chrono_literals;

namespace {

constexpr size_t copies = default_max_subkeys;  // the most one store may carry

/// The answer of the node behind `gateway` to a store of `items` under `key` from a peer with
/// no endpoint.
caf::expected<dht::response> store_at(caf::actor_system& system, const caf::actor& gateway,
                                      const dht::id160& key, std::vector<dht::item> items) {
  dht::request req{dht::node_info{dht::key_id("attacker"), ""}, dht::store_request{key, items}};
  caf::scoped_actor self{system};
  caf::expected<dht::response> out{make_error(errc::internal, "no reply")};
  self->request(gateway, 30s, dht_rpc_atom::value, dht::encode(req))
    .receive([&](payload& reply) { out = dht::decode_response(reply); },
             [&](caf::error& err) { out = std::move(err); });
  return out;
}

struct fixture : dht_victim {
  fixture() : dht_victim("hostile-dht") {
  }

  caf::expected<dht::response> store(const dht::id160& key, std::vector<dht::item> items) {
    return store_at(*system, gateway, key, std::move(items));
  }
};

/// An actor system of its own that dials `port` from `source`, a loopback address.
struct peer_at {
  node_config cfg;
  std::unique_ptr<caf::actor_system> system;
  caf::actor gateway;

  peer_at(uint16_t port, const std::string& source) {
    CAF_REQUIRE(!cfg.parse_and_validate(std::vector<std::string>{}));
    system = std::make_unique<caf::actor_system>(cfg);
    wire_guard_options guard;
    guard.source_address = source;
    set_wire_guard_options(*system, guard);
    auto handle = dial_as<inspector_actor>(*system, "127.0.0.1", port, 10s);
    CAF_REQUIRE(handle);
    gateway = caf::actor_cast<caf::actor>(*handle);
  }

  /// How many of `count` items of `bytes` each, under keys of their own, the node stored.
  size_t stores(const std::string& prefix, size_t count, size_t bytes) {
    size_t stored = 0;
    for (size_t i = 0; i < count; ++i) {
      auto key = dht::key_id(prefix + std::to_string(i));
      auto answer = store_at(*system, gateway, key,
                             {dht::item{"", std::string(bytes, 'x'), dht::wall_clock() + 600}});
      CAF_REQUIRE(answer);
      if (auto* result = std::get_if<dht::store_result>(&answer->body))
        stored += result->accepted.front() ? 1 : 0;
      else
        CAF_CHECK_EQUAL(code_of(std::get<caf::error>(answer->body)), errc::limit_exceeded);
    }
    return stored;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(hostile_dht, fixture)

CAF_TEST(one signed item repeated in a store costs one signature check) {
  auto owner = dht::identity::generate();
  auto key = dht::key_id("ffn.0.");
  auto x = dht::owned_item(*owner, key, "0", "127.0.0.1:7000", dht::wall_clock() + 60);
  auto before = stat("signature_checks");
  CAF_REQUIRE_GREATER_OR_EQUAL(before, 0);
  auto start = std::chrono::steady_clock::now();
  auto answer = store(key, std::vector<dht::item>(copies, x));
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CAF_REQUIRE(answer);
  auto* result = std::get_if<dht::store_result>(&answer->body);
  if (auto* err = std::get_if<caf::error>(&answer->body))
    CAF_MESSAGE("the store was refused: " << describe(*err));
  CAF_REQUIRE(result);
  CAF_REQUIRE_EQUAL(result->accepted.size(), copies);
  CAF_CHECK(result->accepted.front());
  CAF_CHECK_EQUAL(std::count(result->accepted.begin(), result->accepted.end(), true), 1);
  auto checks = stat("signature_checks") - before;
  CAF_MESSAGE(copies << " copies of one signed item: " << checks << " signature check(s), "
                     << took << " s for the store");
  CAF_CHECK_EQUAL(checks, 1);
  CAF_CHECK_EQUAL(stat("items"), 1);
}

CAF_TEST(a store of more items than a key holds is refused) {
  auto owner = dht::identity::generate();
  auto key = dht::key_id("ffn.1.");
  std::vector<dht::item> items;
  for (size_t i = 0; i <= default_max_subkeys; ++i)  // dht.max-subkeys + 1
    items.push_back(dht::owned_item(*owner, key, std::to_string(i), "v", dht::wall_clock() + 60));
  auto before = stat("signature_checks");
  auto answer = store(key, items);
  CAF_REQUIRE(answer);
  auto* refused = std::get_if<caf::error>(&answer->body);
  CAF_REQUIRE(refused);
  CAF_CHECK_EQUAL(code_of(*refused), errc::limit_exceeded);
  CAF_MESSAGE("refused: " << message_of(*refused));
  CAF_CHECK_EQUAL(stat("signature_checks"), before);  // refused before any check
}

CAF_TEST(a key holds no more than a lookup answer can carry) {
  // A peer fills one key with 260 items of 64 KiB (17 MB, more than limits.max-frame-bytes):
  // before dht.max-key-bytes, every node's lookup of that key failed (the answer was a frame
  // its guard closes the connection for).
  auto node = caf::actor_cast<dht::access_actor>(gateway);
  std::string value(dht::default_max_value_bytes - 128, 'v');
  size_t stored = 0;
  size_t refused = 0;
  for (size_t i = 0; i < 260; ++i) {
    auto r = dht::store(*system, node, "filled", "s" + std::to_string(i), value,
                        dht::wall_clock() + 600);
    (r ? stored : refused) += 1;
  }
  CAF_MESSAGE(stored << " items stored, " << refused << " refused");
  CAF_CHECK_GREATER(refused, 0u);
  CAF_CHECK_LESS_OR_EQUAL(stored * value.size(), default_max_key_bytes);
  // Another node looks the key up through the network.
  auto other_port = free_port();
  auto other = launch({DMOE_NODE_BINARY, "--config-file=" DMOE_CONFIG_DIR "/dht-node.ini",
                       "--node.name=\"other\"", "--node.port=" + std::to_string(other_port),
                       "--dht.bootstrap=[\"127.0.0.1:" + std::to_string(port) + "\"]"},
                      dir + "/other.log");
  CAF_REQUIRE(other.pid > 0);
  CAF_REQUIRE(wait_listening(other_port, 20s));
  auto other_node = caf::actor_cast<dht::access_actor>(connect_node(*system, other_port));
  CAF_REQUIRE(other_node);
  // (its lookup finds the key once it has joined)
  caf::expected<dht::get_outcome> got = make_error(errc::internal, "not asked");
  poll_until(
    [&] {
      got = dht::get(*system, other_node, "filled");
      return got && !got->items.empty();
    },
    15s, 200ms);
  CAF_MESSAGE("the other node's get: "
              << (got ? std::to_string(got->items.size()) + " items" : describe(got.error())));
  CAF_CHECK(got && got->items.size() == stored);
  kill_launched(other.pid);
}

// Row 8's lock-out: one address fills a declaration key with 1,024 owned items under 1,024 keys
// of its own (every sub-key a key may hold). Before, a restarted server's declaration under that
// key was refused until the items expired; now it takes the place of one of the filler's.
CAF_TEST(one address cannot lock a server out of a key) {
  auto key = dht::key_id("ffn.2.");
  auto expires = dht::wall_clock() + 100;
  std::vector<dht::item> filler;
  for (size_t i = 0; i < default_max_subkeys; ++i)
    filler.push_back(dht::owned_item(*dht::identity::generate(), key, "0", "127.0.0.3:7000",
                                     expires));
  peer_at attacker{port, "127.0.0.3"};
  auto filled = store_at(*attacker.system, attacker.gateway, key, filler);
  CAF_REQUIRE(filled);
  auto* result = std::get_if<dht::store_result>(&filled->body);
  CAF_REQUIRE(result);
  CAF_CHECK_EQUAL(std::count(result->accepted.begin(), result->accepted.end(), true),
                  static_cast<long>(default_max_subkeys));
  peer_at server{port, "127.0.0.2"};
  auto server_key = dht::identity::generate();
  auto declaration = dht::owned_item(*server_key, key, "0", "127.0.0.2:7001", expires);
  auto declared = store_at(*server.system, server.gateway, key, {declaration});
  CAF_REQUIRE(declared);
  if (auto* err = std::get_if<caf::error>(&declared->body))
    CAF_MESSAGE("the server's declaration was refused: " << describe(*err));
  auto* stored = std::get_if<dht::store_result>(&declared->body);
  CAF_CHECK(stored && stored->accepted.front());
  auto node = caf::actor_cast<dht::access_actor>(gateway);
  auto got = dht::get(*system, node, "ffn.2.");
  CAF_REQUIRE(got);
  auto found = std::count_if(got->items.begin(), got->items.end(), [&](const dht::item& x) {
    return x.subkey == declaration.subkey;
  });
  CAF_MESSAGE(got->items.size() << " items under the key; the server's declaration among them: "
                                << found << "; fair evictions " << stat("fair_evictions"));
  CAF_CHECK_EQUAL(found, 1);
  CAF_CHECK_EQUAL(got->items.size(), default_max_subkeys);
}

CAF_TEST_FIXTURE_SCOPE_END()

// One address stores 4 MiB of items at a node that lets a peer store 1 MiB: before the quota all
// of them were stored (a node held whatever one peer sent, up to dht.max-stored-mb); now those
// past the peer's share are refused, and a peer from another address still stores its items.
CAF_TEST(one address cannot fill a node) {
  dht_victim victim{"hostile-dht-quota", {"--dht.max-peer-stored-mb=1"}};
  constexpr size_t item_bytes = 60 << 10;
  constexpr size_t attempts = 4 * (1 << 20) / item_bytes;  // 4 MiB
  peer_at attacker{victim.port, "127.0.0.3"};
  auto stored = attacker.stores("fill-", attempts, item_bytes);
  peer_at honest{victim.port, "127.0.0.2"};
  auto honest_stored = honest.stores("honest-", 4, item_bytes);
  auto held = victim.stat("items");
  CAF_MESSAGE("one address: " << stored << " of " << attempts << " items of 60 KiB stored; "
              "another: " << honest_stored << " of 4; the node holds " << held << " items");
  CAF_CHECK_LESS_OR_EQUAL(stored * item_bytes, size_t{1} << 20);
  CAF_CHECK_GREATER(stored, 0u);
  CAF_CHECK_EQUAL(honest_stored, 4u);
  CAF_CHECK_EQUAL(held, static_cast<int64_t>(stored + honest_stored));
}

// Every lookup or store a peer asks of a node's access interface (the gateway's dht_get and
// dht_store, the inspector's `dht get`, `dht store` and `experts` walks) makes the node run a
// whole lookup through the swarm for it: before, as many as the peer asked. Now each of the two
// takes dht.peer-access-rate per second per peer after a burst of dht.peer-access-burst.
CAF_TEST(one address cannot make a node run lookups without end) {
  constexpr double rate = 10;
  constexpr double burst = 20;
  dht_victim victim{"hostile-dht-access",
                    {"--dht.peer-access-rate=10", "--dht.peer-access-burst=20"}};
  peer_at attacker{victim.port, "127.0.0.3"};
  auto lookups_before = victim.stat("lookups");
  auto start = std::chrono::steady_clock::now();
  caf::scoped_actor self{*attacker.system};
  size_t got = 0, refused = 0;
  auto count = [&](const caf::error& err) {
    CAF_CHECK_EQUAL(code_of(err), errc::overloaded);
    ++refused;
  };
  for (int i = 0; i < 200; ++i)
    self->request(attacker.gateway, 10s, dht::dht_get_atom::value, "key-" + std::to_string(i))
      .receive([&](payload&, uint32_t, uint32_t) { ++got; }, count);
  for (int i = 0; i < 100; ++i)
    self->request(attacker.gateway, 10s, inspect_atom::value, "dht get key-" + std::to_string(i))
      .receive([&](std::string&) { ++got; }, count);
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto lookups = victim.stat("lookups") - lookups_before;
  CAF_MESSAGE("one address asked 300 lookups in " << seconds << " s: " << got << " answered, "
              << refused << " refused; the node ran " << lookups << " lookups");
  // The gateway's and the inspector's budgets, each a burst and the rate since.
  CAF_CHECK_LESS_OR_EQUAL(static_cast<double>(lookups), 2 * (burst + rate * seconds) + 2);
  CAF_CHECK_EQUAL(static_cast<int64_t>(got), lookups);
  CAF_CHECK_GREATER(refused, 0u);
  CAF_CHECK_GREATER_OR_EQUAL(victim.stat("access_refused"), 1);
  // Another address is served meanwhile.
  peer_at honest{victim.port, "127.0.0.2"};
  caf::scoped_actor other{*honest.system};
  bool served = false;
  other->request(honest.gateway, 10s, dht::dht_get_atom::value, std::string{"key-0"})
    .receive([&](payload&, uint32_t, uint32_t) { served = true; }, [](caf::error&) {});
  CAF_CHECK(served);
}
