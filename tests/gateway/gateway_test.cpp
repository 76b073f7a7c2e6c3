// The gateway (actors/gateway): what it forwards to which role, its local-only routes, and calls
// in parts from a remote requester (messages/parts.hpp) over loopback TCP: big requests and
// replies put together exactly, parts that break a limit or a whole of the wrong size refused,
// and the gateway still serving afterwards; dialers refusing an actor published with another
// protocol than the one they dial for.
#define CAF_SUITE gateway
#include <caf/test/unit_test.hpp>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/dht/node.hpp"
#include "actors/dht/peers.hpp"
#include "actors/gateway/gateway.hpp"
#include "actors/gateway/parts_caller.hpp"
#include "actors/inspector/inspector.hpp"
#include "actors/server/server.hpp"
#include "messages/errors.hpp"
#include "messages/parts.hpp"
#include "messages/type_ids.hpp"
#include "runtime/node_config.hpp"
#include "runtime/node_dial.hpp"
#include "runtime/wire_guard.hpp"

using namespace dmoe;
using namespace std::chrono_literals;

namespace {

using call_atom = caf::atom_constant<caf::atom("t_call")>;
using resolve_atom = caf::atom_constant<caf::atom("t_resolve")>;

constexpr uint64_t part_bytes = 4096;
constexpr auto timeout = 10s;

payload bytes_of(size_t n, char seed) {
  payload p;
  p.bytes.resize(n);
  for (size_t i = 0; i < n; ++i)
    p.bytes[i] = static_cast<char>(seed + static_cast<char>(i % 251));
  return p;
}

caf::error not_here() {
  return make_error(errc::unavailable, "not in this stand-in");
}

/// A server role that answers an expert call with the request reversed and grown to
/// `reply_factor` times its size.
server_actor::behavior_type mirror_server(server_actor::pointer, size_t reply_factor) {
  auto mirror = [reply_factor](const payload& in) {
    payload out;
    for (size_t k = 0; k < reply_factor; ++k)
      out.bytes.insert(out.bytes.end(), in.bytes.rbegin(), in.bytes.rend());
    return out;
  };
  return {[mirror](expert_rpc_atom, payload& in) { return mirror(in); },
          // A call put together from parts names the requester's node.
          [mirror](expert_rpc_atom, payload& in, const caf::node_id& origin) {
            CAF_CHECK(origin != caf::node_id{});
            return mirror(in);
          },
          [](stats_atom) { return server_stats{}; },
          [](server_checkpoint_atom) -> caf::result<uint32_t> { return not_here(); },
          [](server_stop_atom) -> caf::result<uint32_t> { return not_here(); }};
}

dht::node_actor::behavior_type dht_stand_in(dht::node_actor::pointer) {
  using triple = caf::result<uint32_t, uint32_t, uint32_t>;
  return {[](dht_rpc_atom, payload& in) { return in; },
          [](dht::dht_start_atom, std::string&) -> caf::result<uint32_t> { return not_here(); },
          [](dht::dht_store_atom, std::string&, std::string&, std::string&, double) -> triple {
            return not_here();
          },
          [](dht::dht_declare_atom, std::string&, std::string&, std::string&, double) -> triple {
            return not_here();
          },
          [](dht::dht_get_atom, std::string&) -> caf::result<payload, uint32_t, uint32_t> {
            return not_here();
          },
          [](dht::dht_info_atom) { return std::string{"dht stand-in"}; },
          [](stats_atom) { return dht::node_stats{}; },
          [](dht::dht_replicate_atom) -> caf::result<uint32_t> { return not_here(); },
          [](dht::dht_prove_atom, std::string&, std::string&) -> caf::result<bool> {
            return not_here();
          }};
}

inspector_actor::behavior_type inspector_stand_in(inspector_actor::pointer) {
  return {[](inspect_atom, std::string& command) { return "inspected: " + command; }};
}

/// The requester side of calls in parts, as the router makes them (parts_caller), with an
/// `announced_extra` that makes it lie about the request's size.
struct client_state {
  parts_caller caller{test_limits()};
  uint64_t next_transfer = 1;

  static wire_limits test_limits() {
    wire_limits limits;
    limits.part_bytes = part_bytes;
    limits.max_message_bytes = 64 << 20;
    return limits;
  }
};

caf::behavior parts_client(caf::stateful_actor<client_state>* self) {
  return {
    [=](wire_part_atom, uint64_t transfer, payload& part) {
      self->state.caller.part_arrived(caf::actor_cast<caf::actor_addr>(self->current_sender()),
                                      transfer, std::move(part), 0);
      CAF_CHECK(!self->state.caller.take_refusal());
    },
    [=](call_atom, const gateway_actor& gateway, payload& request, uint64_t announced_extra)
      -> caf::result<payload> {
      auto transfer = self->state.next_transfer++;
      auto rp = self->make_response_promise<payload>();
      auto done = [rp](caf::expected<payload> reply) mutable {
        if (reply)
          rp.deliver(std::move(*reply));
        else
          rp.deliver(reply.error());
      };
      if (announced_extra == 0) {
        self->state.caller.call(self, gateway, transfer, std::move(request), timeout, done);
        return rp;
      }
      // By hand, announcing more bytes than sent.
      auto total = request.bytes.size() + announced_extra;
      auto pieces = split_payload(std::move(request), part_bytes);
      for (size_t i = 0; i + 1 < pieces.size(); ++i)
        self->send(gateway, wire_part_atom::value, transfer, std::move(pieces[i]));
      self->request(gateway, timeout, expert_rpc_atom::value, transfer, uint64_t{total},
                    std::move(pieces.back()))
        .then([done](uint64_t, payload&) mutable { done(make_error(errc::internal, "accepted")); },
              [done](caf::error& err) mutable { done(std::move(err)); });
      return rp;
    },
  };
}

/// An actor resolving endpoints as a router does: what it dials must be a gateway.
/// (resolve_atom, endpoint) -> "ok" or the error's message.
struct resolving_state {
  std::unique_ptr<dht::peer_resolver> resolver;
};

caf::behavior resolving(caf::stateful_actor<resolving_state>* self) {
  self->state.resolver = std::make_unique<dht::peer_resolver>(
    self, nullptr, timeout, self->system().message_types<gateway_actor>());
  return {[self](resolve_atom, const std::string& endpoint) -> caf::result<std::string> {
    auto rp = self->make_response_promise<std::string>();
    self->state.resolver->resolve(endpoint, [rp](caf::expected<caf::actor> peer) mutable {
      rp.deliver(peer ? std::string{"ok"} : message_of(peer.error()));
    });
    return rp;
  }};
}

struct fixture {
  node_config server_cfg;
  node_config client_cfg;
  std::unique_ptr<caf::actor_system> server_side;
  std::unique_ptr<caf::actor_system> client_side;
  gateway_actor gateway;
  gateway_actor remote_gateway;
  server_actor server;
  dht::node_actor dht;
  inspector_actor inspector;
  uint16_t port = 0;

  fixture() {
    CAF_REQUIRE(!server_cfg.parse_and_validate(std::vector<std::string>{}));
    CAF_REQUIRE(!client_cfg.parse_and_validate(std::vector<std::string>{}));
    server_side = std::make_unique<caf::actor_system>(server_cfg);
    client_side = std::make_unique<caf::actor_system>(client_cfg);
    gateway_setup setup;
    setup.name = "test/gateway";
    setup.limits.part_bytes = part_bytes;
    setup.limits.max_message_bytes = 1 << 20;
    gateway = spawn_gateway(*server_side, setup);
    server = server_side->spawn(mirror_server, size_t{3});
    dht = server_side->spawn(dht_stand_in);
    inspector = server_side->spawn(inspector_stand_in);
    route(server);
    route(dht);
    route(inspector);
    auto published = server_side->middleman().publish(gateway, 0, "127.0.0.1", true);
    CAF_REQUIRE(published);
    port = *published;
    auto handle = client_side->middleman().remote_actor<gateway_actor>("127.0.0.1", port);
    CAF_REQUIRE(handle);
    remote_gateway = *handle;
  }

  ~fixture() {
    server_side->middleman().unpublish(gateway, port);
    caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(dht, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(inspector, caf::exit_reason::user_shutdown);
  }

  template <class Handle>
  void route(const Handle& target) {
    caf::scoped_actor self{*server_side};
    bool ok = false;
    self->request(gateway, timeout, gateway_route_atom::value, target)
      .receive([&](bool x) { ok = x; }, [](caf::error&) {});
    CAF_REQUIRE(ok);
  }

  caf::expected<payload> call_in_parts(payload request, uint64_t announced_extra = 0) {
    auto client = client_side->spawn(parts_client);
    caf::scoped_actor self{*client_side};
    caf::expected<payload> result{make_error(errc::internal, "no answer")};
    self->request(client, timeout, call_atom::value, remote_gateway, std::move(request),
                  announced_extra)
      .receive([&](payload& p) { result = std::move(p); },
               [&](caf::error& err) { result = std::move(err); });
    caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
    return result;
  }

  std::string inspect(const std::string& command) {
    caf::scoped_actor self{*client_side};
    std::string out;
    self->request(remote_gateway, timeout, inspect_atom::value, command)
      .receive([&](std::string& text) { out = std::move(text); },
               [&](caf::error& err) { out = "error: " + describe(err); });
    return out;
  }
};

payload expected_reply(const payload& request, size_t factor) {
  payload out;
  for (size_t k = 0; k < factor; ++k)
    out.bytes.insert(out.bytes.end(), request.bytes.rbegin(), request.bytes.rend());
  return out;
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(gateway_tests, fixture)

CAF_TEST(every protocol reaches its role) {
  CAF_CHECK_EQUAL(inspect("stats"), "inspected: stats");
  caf::scoped_actor self{*client_side};
  auto request = bytes_of(64, 'a');
  payload echoed;
  self->request(remote_gateway, timeout, dht_rpc_atom::value, request)
    .receive([&](payload& p) { echoed = std::move(p); }, [](caf::error&) {});
  CAF_CHECK(echoed.bytes == request.bytes);
  payload mirrored;
  self->request(remote_gateway, timeout, expert_rpc_atom::value, request)
    .receive([&](payload& p) { mirrored = std::move(p); }, [](caf::error&) {});
  CAF_CHECK(mirrored.bytes == expected_reply(request, 3).bytes);
}

CAF_TEST(routes cannot be set from another node) {
  // Role handles do not cross nodes (their types are not registered), so a remote peer can at
  // most send untyped handles, which no route takes.
  caf::scoped_actor self{*client_side};
  auto untyped = caf::actor_cast<caf::actor>(remote_gateway);
  for (auto attempt : {caf::make_message(gateway_route_atom::value, caf::actor{}),
                       caf::make_message(gateway_route_atom::value, std::string{"server"},
                                         caf::actor{})}) {
    caf::error refused;
    self->request(untyped, timeout, attempt)
      .receive([](bool) {}, [&](caf::error& err) { refused = std::move(err); });
    CAF_CHECK_EQUAL(refused, caf::sec::unexpected_message);
  }
  CAF_CHECK_EQUAL(inspect("x"), "inspected: x");
}

CAF_TEST(big requests and replies cross in parts and arrive whole) {
  for (size_t size : {size_t{8}, size_t{4096}, size_t{4097}, size_t{100000}}) {
    auto request = bytes_of(size, 'q');
    auto reply = call_in_parts(request);
    CAF_REQUIRE(reply);
    CAF_CHECK_EQUAL(reply->bytes.size(), 3 * size);
    CAF_CHECK(reply->bytes == expected_reply(request, 3).bytes);
  }
}

CAF_TEST(a whole of another size than announced is refused) {
  auto reply = call_in_parts(bytes_of(20000, 'w'), 1);
  CAF_REQUIRE(!reply);
  CAF_CHECK_EQUAL(code_of(reply.error()), errc::malformed);
  CAF_CHECK(call_in_parts(bytes_of(20000, 'w')));  // the gateway keeps serving
}

CAF_TEST(a transfer over the message limit is refused before it is kept) {
  auto reply = call_in_parts(bytes_of((1 << 20) + 4096, 'l'));
  CAF_REQUIRE(!reply);
  CAF_CHECK_EQUAL(code_of(reply.error()), errc::limit_exceeded);
  CAF_CHECK(call_in_parts(bytes_of(1000, 'l')));
}

CAF_TEST(a dialer refuses a published actor that does not speak the protocol it dials for) {
  auto gateway_port = publish_guarded(*server_side, gateway, 0, "127.0.0.1", true);
  auto inspector_port = publish_guarded(*server_side, inspector, 0, "127.0.0.1", true);
  auto untyped_port = publish_guarded(*server_side, caf::actor_cast<caf::actor>(inspector), 0,
                                      "127.0.0.1", true);
  CAF_REQUIRE(gateway_port && inspector_port && untyped_port);
  auto& sys = *client_side;
  constexpr auto dial_timeout = std::chrono::milliseconds(5000);
  CAF_CHECK(dial_as<gateway_actor>(sys, "127.0.0.1", *gateway_port, dial_timeout));
  // A part of the gateway's protocol is enough for a handle of that part.
  CAF_CHECK(dial_as<inspector_actor>(sys, "127.0.0.1", *gateway_port, dial_timeout));
  CAF_CHECK(dial_as<dht::access_actor>(sys, "127.0.0.1", *gateway_port, dial_timeout));
  CAF_CHECK(dial_as<inspector_actor>(sys, "127.0.0.1", *inspector_port, dial_timeout));
  auto refused = dial_as<gateway_actor>(sys, "127.0.0.1", *inspector_port, dial_timeout);
  CAF_REQUIRE(!refused);
  CAF_CHECK_EQUAL(code_of(refused.error()), errc::unavailable);
  CAF_CHECK_NOT_EQUAL(message_of(refused.error()).find("does not speak the protocol"),
                      std::string::npos);
  // An actor published without its type speaks nothing a typed dial can rely on.
  CAF_CHECK(!dial_as<inspector_actor>(sys, "127.0.0.1", *untyped_port, dial_timeout));
  CAF_CHECK(dial_node(sys, "127.0.0.1", *untyped_port, dial_timeout));
  // A resolver (the router's) refuses the inspector where it needs a gateway, and takes the
  // gateway.
  auto owner = sys.spawn(resolving);
  caf::scoped_actor self{sys};
  auto resolve = [&](uint16_t p) {
    std::string out;
    self->request(owner, timeout, resolve_atom::value, "127.0.0.1:" + std::to_string(p))
      .receive([&](std::string& text) { out = std::move(text); },
               [&](caf::error& err) { out = "error: " + describe(err); });
    return out;
  };
  CAF_CHECK_EQUAL(resolve(*gateway_port), "ok");
  CAF_CHECK_NOT_EQUAL(resolve(*inspector_port).find("does not speak the protocol"),
                      std::string::npos);
  caf::anon_send_exit(owner, caf::exit_reason::user_shutdown);
  server_side->middleman().unpublish(gateway, *gateway_port);
  server_side->middleman().unpublish(inspector, *inspector_port);
  server_side->middleman().unpublish(inspector, *untyped_port);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(one sending node cannot hold more than its share of the transfers under way) {
  caf::actor_system_config cfg_a;
  caf::actor_system_config cfg_b;
  cfg_a.load<caf::io::middleman>();  // a node id of its own comes with the middleman
  cfg_b.load<caf::io::middleman>();
  caf::actor_system a{cfg_a};
  caf::actor_system b{cfg_b};  // another node id (CAF numbers the systems of a process)
  auto idle = [](caf::event_based_actor*) -> caf::behavior { return {[](int) {}}; };
  auto flooder = a.spawn(idle);
  auto honest = b.spawn(idle);
  CAF_REQUIRE(flooder.node() != honest.node());
  part_limits limits;
  limits.max_transfer_bytes = 2000;
  limits.max_total_bytes = 4000;
  limits.max_node_bytes = 1500;
  part_buffer parts{limits};
  auto part = [] { return bytes_of(500, 'p'); };
  // The flooder's transfers: three parts fit its share, the fourth would exceed it.
  CAF_CHECK(!parts.add({flooder.address(), 1}, part(), 0));
  CAF_CHECK(!parts.add({flooder.address(), 1}, part(), 0));
  CAF_CHECK(!parts.add({flooder.address(), 2}, part(), 0));
  auto refused = parts.add({flooder.address(), 3}, part(), 0);
  CAF_CHECK_EQUAL(code_of(refused), errc::limit_exceeded);
  // Another node still has room, and the flooder's share frees up as its transfers finish.
  CAF_CHECK(!parts.add({honest.address(), 1}, part(), 0));
  CAF_CHECK(parts.finish({flooder.address(), 1}, 1500, part()));
  CAF_CHECK(!parts.add({flooder.address(), 4}, part(), 0));
  caf::anon_send_exit(flooder, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(honest, caf::exit_reason::user_shutdown);
}

CAF_TEST(a node holding the most transfers makes room for one holding fewer) {
  caf::actor_system_config cfg_a;
  caf::actor_system_config cfg_b;
  cfg_a.load<caf::io::middleman>();
  cfg_b.load<caf::io::middleman>();
  caf::actor_system a{cfg_a};
  caf::actor_system b{cfg_b};
  auto idle = [](caf::event_based_actor*) -> caf::behavior { return {[](int) {}}; };
  auto flooder = a.spawn(idle);
  auto honest = b.spawn(idle);
  part_limits limits;
  limits.max_transfers = 4;
  limits.max_transfer_bytes = 4000;
  limits.max_total_bytes = 4000;
  limits.max_node_bytes = 4000;
  part_buffer parts{limits};
  // The flooder takes every slot with zero-byte parts, the oldest first.
  for (uint64_t t = 1; t <= 4; ++t)
    CAF_CHECK(!parts.add({flooder.address(), t}, payload{}, static_cast<double>(t)));
  // A new transfer of another node takes the place of the flooder's stalest one.
  CAF_CHECK(!parts.add({honest.address(), 1}, bytes_of(500, 'h'), 10));
  CAF_CHECK_EQUAL(parts.evicted(), 1u);
  CAF_CHECK_EQUAL(parts.transfers(), 4u);
  // The flooder cannot take it back while it holds more; the honest node gets up to half.
  CAF_CHECK_EQUAL(code_of(parts.add({flooder.address(), 5}, payload{}, 11)), errc::limit_exceeded);
  CAF_CHECK(!parts.add({honest.address(), 2}, bytes_of(500, 'h'), 12));
  CAF_CHECK_EQUAL(code_of(parts.add({honest.address(), 3}, bytes_of(500, 'h'), 13)),
                  errc::limit_exceeded);
  // What is left: the flooder's two newest transfers and the honest node's two, whole.
  CAF_CHECK(parts.finish({flooder.address(), 4}, 0, payload{}));
  CAF_CHECK(parts.finish({flooder.address(), 3}, 0, payload{}));
  CAF_CHECK_EQUAL(parts.transfers(), 2u);
  CAF_CHECK(parts.finish({honest.address(), 1}, 500, payload{}));
  CAF_CHECK(parts.finish({honest.address(), 2}, 500, payload{}));
  CAF_CHECK_EQUAL(parts.transfers(), 0u);
  // Bytes are shared the same way: the flooder's 3,500 bytes make room for another node's part.
  part_buffer bytes{limits};
  for (uint64_t t = 1; t <= 3; ++t)
    CAF_CHECK(!bytes.add({flooder.address(), t}, bytes_of(1000, 'f'), static_cast<double>(t)));
  CAF_CHECK(!bytes.add({flooder.address(), 3}, bytes_of(500, 'f'), 4));
  CAF_CHECK(!bytes.add({honest.address(), 1}, bytes_of(1000, 'h'), 5));
  CAF_CHECK_EQUAL(bytes.evicted(), 1u);
  CAF_CHECK_EQUAL(bytes.bytes(), 3500u);
  caf::anon_send_exit(flooder, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(honest, caf::exit_reason::user_shutdown);
}
