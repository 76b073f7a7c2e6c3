// Row 6 of the second round against hostile peers: the slots for calls in parts. A gateway
// keeps at most 256 transfers in parts under way for all its peers together (messages/parts.hpp);
// four peers, each a node of its own, open 64 transfers each with zero-byte parts and send
// nothing more. Before the slots were shared fairly every honest call over 64 KiB then failed
// until the transfers expired (60 s); now an honest call in parts takes the place of the stalest
// transfer of a node holding more, and is answered.
#define CAF_SUITE hostile.parts
#include <caf/test/unit_test.hpp>

#include <caf/stateful_actor.hpp>

#include "actors/gateway/parts_caller.hpp"
#include "tests/integrity/attack_fixture.hpp"

using namespace dmoe;
using namespace dmoe::test;
using namespace std::chrono_literals;

namespace {

using call_atom = caf::atom_constant<caf::atom("call")>;

constexpr size_t attackers = 4;
constexpr uint64_t transfers_each = 64;  // 4 x 64: every slot of the gateway
constexpr int64_t rows = 1024;           // 1024 x 16 floats: 64 KiB and a header, two parts

struct caller_state {
  std::unique_ptr<parts_caller> caller;
  uint64_t next_call = 1;
};

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// Calls a gateway in parts as a router does: (call_atom, gateway, request) -> reply.
caf::behavior parts_client(caf::stateful_actor<caller_state>* self) {
  self->state.caller = std::make_unique<parts_caller>(wire_limits{});
  return {
    [=](wire_part_atom, uint64_t call, payload& part) {
      self->state.caller->part_arrived(caf::actor_cast<caf::actor_addr>(self->current_sender()),
                                       call, std::move(part), seconds_now());
    },
    [=](call_atom, const caf::actor& gateway, payload& request) -> caf::result<payload> {
      auto rp = self->make_response_promise<payload>();
      self->state.caller->call(self, caf::actor_cast<gateway_actor>(gateway),
                               self->state.next_call++, std::move(request), victim_timeout,
                               [rp](caf::expected<payload> reply) mutable {
                                 if (reply)
                                   rp.deliver(std::move(*reply));
                                 else
                                   rp.deliver(reply.error());
                               });
      return rp;
    },
  };
}

struct fixture : victim_fixture {
  /// A forward of `rows` rows in parts: the rows of the outputs, or the error.
  caf::expected<int64_t> forward_in_parts() {
    auto client = system->spawn(parts_client);
    caf::scoped_actor self{*system};
    caf::expected<int64_t> result = make_error(errc::internal, "no answer");
    auto request = encode(expert_call{forward_call{"ffn.0.0", {torch::randn({rows, victim_hidden})}}});
    CAF_REQUIRE_GREATER(request.bytes.size(), default_part_bytes);
    self->request(client, 2 * victim_timeout, call_atom::value, gateway, std::move(request))
      .receive(
        [&](payload& reply) { result = forward_rows(std::move(reply)); },
        [&](caf::error& err) { result = std::move(err); });
    caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
    return result;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(hostile_parts, fixture)

CAF_TEST(transfers held open by other nodes do not keep an honest call in parts out) {
  auto before = forward_in_parts();
  if (!before)
    CAF_MESSAGE("the honest call failed: " << describe(before.error()));
  CAF_REQUIRE(before);
  CAF_REQUIRE_EQUAL(*before, rows);
  // Each attacker is a node of its own.
  std::vector<std::unique_ptr<node_config>> configs;
  std::vector<std::unique_ptr<caf::actor_system>> attacker_systems;
  for (size_t a = 0; a < attackers; ++a) {
    configs.push_back(std::make_unique<node_config>());
    CAF_REQUIRE(!configs.back()->parse_and_validate(std::vector<std::string>{}));
    attacker_systems.push_back(std::make_unique<caf::actor_system>(*configs.back()));
    auto target = connect_node(*attacker_systems.back(), port);
    CAF_REQUIRE(target);
    caf::scoped_actor attacker{*attacker_systems.back()};
    for (uint64_t t = 1; t <= transfers_each; ++t)
      attacker->send(target, wire_part_atom::value, t, payload{});
    // Answered after the parts are taken (one sender's messages arrive in order).
    bool answered = false;
    attacker->request(target, victim_timeout, dht::dht_info_atom::value)
      .receive([&](std::string&) { answered = true; }, [](caf::error&) {});
    CAF_REQUIRE(answered);
  }
  auto during = forward_in_parts();
  if (!during)
    CAF_MESSAGE("the honest call failed: " << describe(during.error()));
  CAF_CHECK(during && *during == rows);
  auto text = log();
  CAF_CHECK(text.find("to make room for node") != std::string::npos);
  CAF_CHECK(alive());
}

CAF_TEST_FIXTURE_SCOPE_END()
