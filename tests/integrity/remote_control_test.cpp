// Exit and error messages from another node, sent with plain CAF to every actor of a node a
// peer can learn (the gateway it connects to, and the DHT and server actors whose replies it
// receives; expert actors answer through their server and are never seen), stop nothing: the
// node answers afterwards.
#define CAF_SUITE integrity.remote_control
#include <caf/test/unit_test.hpp>

#include <caf/send.hpp>

#include "tests/integrity/attack_fixture.hpp"

using namespace dmoe;
using namespace dmoe::test;

CAF_TEST_FIXTURE_SCOPE(remote_control_tests, victim_fixture)

CAF_TEST(exit and error messages from another node stop no actor of a node) {
  caf::strong_actor_ptr dht_actor;
  caf::strong_actor_ptr expert_actor;
  caf::strong_actor_ptr server_actor;
  CAF_REQUIRE(dht_info(&dht_actor));
  CAF_REQUIRE(forward("ffn.0.0", 2, &expert_actor));
  CAF_REQUIRE(!forward("ffn.9.9", 2, &server_actor));  // the server itself refuses it
  CAF_REQUIRE(dht_actor && expert_actor && server_actor);
  CAF_CHECK(expert_actor == server_actor);  // an expert's answer comes from its server
  std::vector<std::pair<std::string, caf::actor>> targets{
    {"gateway", gateway},
    {"dht", caf::actor_cast<caf::actor>(dht_actor)},
    {"server", caf::actor_cast<caf::actor>(server_actor)}};
  for (size_t i = 0; i < targets.size(); ++i)
    for (size_t j = i + 1; j < targets.size(); ++j)
      CAF_REQUIRE(targets[i].second != targets[j].second);
  caf::scoped_actor attacker{*system};
  for (auto& [name, target] : targets) {
    CAF_MESSAGE("attacking the " << name << " actor");
    caf::anon_send_exit(target, caf::exit_reason::kill);
    attacker->send_exit(target, caf::exit_reason::kill);
    caf::anon_send(target, caf::make_error(caf::sec::runtime_error));
    attacker->send(target, caf::make_error(caf::sec::runtime_error));
    // Exit and down messages whose source field names the target itself: the field is the
    // sender's to fill in.
    attacker->send(target, caf::exit_msg{target.address(), caf::exit_reason::kill});
    attacker->send(target, caf::down_msg{gateway.address(), caf::exit_reason::kill});
    require_answers(("the attack on the " + name + " actor").c_str());
  }
  CAF_CHECK(alive());
  auto text = log();
  // The wire guard drops them before any actor reads them: the anonymous ones, every message to
  // the actors that take only replies, and the exit, error and down messages to the gateway
  // (CAF makes an actor quit on an exit message with reason kill, whatever its handlers say).
  CAF_CHECK(text.find("an anonymous message to actor") != std::string::npos);
  CAF_CHECK(text.find("which takes only replies from the network") != std::string::npos);
  CAF_CHECK(text.find("a message of types @<>+@exit") != std::string::npos);
  CAF_CHECK(text.find("a message of types @<>+@error") != std::string::npos);
  CAF_CHECK(text.find("a message of types @<>+@down") != std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
