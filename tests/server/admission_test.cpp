// Fair service as pure logic, time passed in: the per-peer limits of peer_admission.
#define CAF_SUITE server.admission
#include <caf/test/unit_test.hpp>

#include "actors/server/peer_admission.hpp"
#include "messages/errors.hpp"

using namespace dmoe;

namespace {

constexpr uint64_t mib = 1024 * 1024;

errc refusal(const caf::error& err) {
  return err ? code_of(err) : errc::internal;
}

admission_ticket call(const std::string& peer, const std::string& expert, uint64_t bytes) {
  return {peer, expert, bytes};
}

}  // namespace

CAF_TEST(the request bucket refuses a peer past its burst and refills at its rate) {
  admission_limits limits;
  limits.request_rate = 10;
  limits.request_burst = 5;
  peer_admission gate{limits};
  for (int i = 0; i < 5; ++i)
    CAF_CHECK(!gate.take_request("flooder", 1, 100.0));
  auto refused = gate.take_request("flooder", 1, 100.0);
  CAF_CHECK_EQUAL(refusal(refused), errc::overloaded);
  CAF_CHECK_NOT_EQUAL(describe(refused).find("server.peer-request-rate"), std::string::npos);
  CAF_CHECK(!gate.take_request("honest", 1, 100.0));  // another peer has its own bucket
  CAF_CHECK(!gate.take_request("flooder", 1, 100.25));  // 0.25 s at 10/s: 2.5 tokens back
  CAF_CHECK(!gate.take_request("flooder", 1, 100.25));
  CAF_CHECK(gate.take_request("flooder", 1, 100.25));
  CAF_CHECK_EQUAL(gate.counters().over_rate, 2u);
}

CAF_TEST(calls in flight and waiting bytes are bounded per peer and expert and in all) {
  admission_limits limits;
  limits.max_in_flight = 3;
  limits.max_expert_bytes = 4 * mib;
  limits.max_peer_bytes = 6 * mib;
  limits.max_total_bytes = 10 * mib;
  peer_admission gate{limits};
  auto a = call("flooder", "ffn.0.0", 3 * mib);
  CAF_CHECK(!gate.admit(a, 0, 1.0));
  // Per expert: 3 + 3 MiB > 4 MiB at ffn.0.0, but ffn.0.1 has room (so only the expert is busy).
  CAF_CHECK_EQUAL(refusal(gate.admit(a, 0, 1.0)), errc::expert_overloaded);
  auto b = call("flooder", "ffn.0.1", 3 * mib);
  CAF_CHECK(!gate.admit(b, 0, 1.0));
  // Per peer: 6 MiB held, so even a small call to a third expert waits.
  CAF_CHECK_EQUAL(refusal(gate.admit(call("flooder", "ffn.0.2", 1), 0, 1.0)), errc::overloaded);
  // Another peer is not affected by the flooder's share.
  auto honest = call("honest", "ffn.0.0", 3 * mib);
  CAF_CHECK(!gate.admit(honest, 0, 1.0));
  CAF_CHECK_EQUAL(gate.queued_bytes(), 9 * mib);
  // Everyone's: 9 + 3 MiB > 10 MiB.
  CAF_CHECK_EQUAL(refusal(gate.admit(call("third", "ffn.0.3", 3 * mib), 0, 1.0)),
                  errc::overloaded);
  CAF_CHECK_EQUAL(gate.counters().over_bytes, 3u);
  gate.release(a);
  gate.release(b);
  gate.release(honest);
  CAF_CHECK_EQUAL(gate.queued_bytes(), 0u);
  // In flight: three small calls pass, the fourth is refused until one ends.
  std::vector<admission_ticket> small;
  for (int i = 0; i < 3; ++i) {
    small.push_back(call("flooder", "ffn.0.0", 10));
    CAF_CHECK(!gate.admit(small.back(), 0, 2.0));
  }
  // Refused before decoding too (take_request), at the cost of a lookup.
  CAF_CHECK_EQUAL(refusal(gate.take_request("flooder", 10, 2.0)), errc::overloaded);
  CAF_CHECK(!gate.take_request("honest", 10, 2.0));
  auto refused = gate.admit(call("flooder", "ffn.0.0", 10), 0, 2.0);
  CAF_CHECK_EQUAL(refusal(refused), errc::overloaded);
  CAF_CHECK_NOT_EQUAL(describe(refused).find("server.peer-max-in-flight"), std::string::npos);
  gate.release(small.back());
  CAF_CHECK(!gate.admit(small.back(), 0, 2.0));
  CAF_CHECK_EQUAL(gate.counters().over_in_flight, 2u);
}

CAF_TEST(the update budget bounds the backward samples of one peer per expert) {
  admission_limits limits;
  limits.update_rate = 100;   // samples per second
  limits.update_burst = 200;
  peer_admission gate{limits};
  auto bwd = call("poisoner", "ffn.0.0", 100);
  int admitted = 0;
  for (int i = 0; i < 10; ++i)
    if (!gate.admit(bwd, 64, 5.0)) {
      ++admitted;
      gate.release(bwd);
    }
  CAF_CHECK_EQUAL(admitted, 3);  // 3 x 64 <= 200 < 4 x 64
  CAF_CHECK_EQUAL(refusal(gate.admit(bwd, 64, 5.0)), errc::expert_overloaded);
  CAF_CHECK_EQUAL(gate.counters().over_updates, 8u);
  CAF_CHECK(!gate.admit(call("poisoner", "ffn.0.1", 100), 64, 5.0));  // another expert's budget
  CAF_CHECK(!gate.admit(call("honest", "ffn.0.0", 100), 64, 5.0));    // another peer's
  CAF_CHECK(!gate.admit(bwd, 0, 5.0));                                 // forward calls are free
  CAF_CHECK(!gate.admit(bwd, 64, 5.6));  // 0.6 s later: 8 + 60 samples back
}

CAF_TEST(idle peers are forgotten and busy ones kept) {
  admission_limits limits;
  limits.request_rate = 10;
  limits.request_burst = 10;
  peer_admission gate{limits};
  for (int i = 0; i < 100; ++i)
    CAF_CHECK(!gate.take_request("peer-" + std::to_string(i), 1, 1.0));
  auto busy = call("busy", "ffn.0.0", 1);
  CAF_CHECK(!gate.admit(busy, 0, 1.0));
  CAF_CHECK_EQUAL(gate.peers(), 101u);
  CAF_CHECK(!gate.take_request("late", 1, 3.0));  // buckets full again after 0.1 s: swept
  CAF_CHECK_EQUAL(gate.peers(), 2u);           // "busy" (a call in flight) and "late"
  gate.release(busy);
  CAF_CHECK(!gate.take_request("late", 1, 5.0));
  CAF_CHECK_EQUAL(gate.peers(), 1u);
}

CAF_TEST(an address holds one share per node seen there up to the limit) {
  admission_limits limits;
  limits.max_in_flight = 2;
  limits.max_nodes_per_peer = 3;
  peer_admission gate{limits};
  auto fill = [&](const std::string& node) {
    size_t admitted = 0;
    while (!gate.take_request("address 192.0.2.1", 1, 1.0, node)
           && !gate.admit(admission_ticket{"address 192.0.2.1", "ffn.0.0", 1}, 0, 1.0))
      ++admitted;
    return admitted;
  };
  CAF_CHECK_EQUAL(fill("node a"), 2u);  // one share: 2 calls in flight
  CAF_CHECK_EQUAL(fill("node b"), 2u);  // a second process there: 4 in all
  CAF_CHECK_EQUAL(fill("node c"), 2u);
  CAF_CHECK_EQUAL(fill("node d"), 0u);  // past 3 shares, more node ids buy nothing
  CAF_CHECK(!gate.take_request("address 192.0.2.2", 1, 1.0, "node e"));  // another address
}
