// Requests per second per peer (runtime/peer_rates.hpp): a burst, then the rate; peers apart;
// idle peers forgotten.
#define CAF_SUITE runtime.peer_rates
#include <caf/test/unit_test.hpp>

#include "runtime/peer_rates.hpp"

using namespace dmoe;

CAF_TEST(a peer spends its burst and then gets the rate) {
  peer_rates rates{10, 20};
  int taken = 0;
  for (int i = 0; i < 100; ++i)
    taken += rates.take("address 192.0.2.1", 5.0) ? 1 : 0;
  CAF_CHECK_EQUAL(taken, 20);
  // Half a second later: 5 more.
  taken = 0;
  for (int i = 0; i < 100; ++i)
    taken += rates.take("address 192.0.2.1", 5.5) ? 1 : 0;
  CAF_CHECK_EQUAL(taken, 5);
}

CAF_TEST(peers do not share a bucket) {
  peer_rates rates{1, 2};
  CAF_CHECK(rates.take("a", 0));
  CAF_CHECK(rates.take("a", 0));
  CAF_CHECK(!rates.take("a", 0));
  CAF_CHECK(rates.take("b", 0));
}

CAF_TEST(rate zero is no limit) {
  peer_rates rates{0, 0};
  for (int i = 0; i < 1000; ++i)
    CAF_REQUIRE(rates.take("a", 0));
}

CAF_TEST(peers whose bucket is full again are forgotten) {
  peer_rates rates{10, 20};
  for (int p = 0; p < 50; ++p)
    rates.take("peer " + std::to_string(p), 100.0);
  CAF_CHECK_EQUAL(rates.peers(), 50u);
  // 0.1 s refills one token each, 2 s all of them: forgotten at the next sweep.
  rates.take("late", 102.0);
  CAF_CHECK_EQUAL(rates.peers(), 1u);
  // Time going back refills nothing.
  for (int i = 0; i < 19; ++i)
    CAF_CHECK(rates.take("late", 101.0));
  CAF_CHECK(!rates.take("late", 101.0));
}
