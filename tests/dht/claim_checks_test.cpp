// The bounds on claimed endpoints a DHT node dials back (actors/dht/claim_checks.hpp).
#define CAF_SUITE dht.claim_checks
#include <caf/test/unit_test.hpp>

#include "actors/dht/claim_checks.hpp"

using namespace dmoe::dht;
using verdict = claim_checks::verdict;

namespace {

std::string endpoint(int i) {
  return "10.0.0.1:" + std::to_string(1000 + i);
}

}  // namespace

CAF_TEST(checks under way are bounded and one endpoint is checked once at a time) {
  claim_checks checks{claim_check_limits{3, 100, 100, 60, 10}};
  CAF_CHECK(checks.begin(endpoint(0), 0) == verdict::start);
  CAF_CHECK(checks.begin(endpoint(0), 0) == verdict::under_way);
  CAF_CHECK(checks.begin(endpoint(1), 0) == verdict::start);
  CAF_CHECK(checks.begin(endpoint(2), 0) == verdict::start);
  CAF_CHECK(checks.begin(endpoint(3), 0) == verdict::too_many);
  checks.end(endpoint(1), true, 0.5);
  CAF_CHECK_EQUAL(checks.under_way(), 2u);
  CAF_CHECK(checks.begin(endpoint(3), 0.5) == verdict::start);
}

CAF_TEST(checks start at the configured rate after a burst) {
  claim_checks checks{claim_check_limits{100, 2, 5, 60, 10}};
  int started = 0;
  for (int i = 0; i < 50; ++i)
    if (checks.begin(endpoint(i), 0) == verdict::start)
      ++started;
  CAF_CHECK_EQUAL(started, 5);
  CAF_CHECK(checks.begin(endpoint(100), 0.1) == verdict::too_fast);
  // 10 s later: 20 more tokens, capped at the burst of 5.
  started = 0;
  for (int i = 200; i < 250; ++i)
    if (checks.begin(endpoint(i), 10) == verdict::start)
      ++started;
  CAF_CHECK_EQUAL(started, 5);
  CAF_CHECK(checks.begin(endpoint(300), 10.5) == verdict::start);  // one token per 0.5 s
  CAF_CHECK(checks.begin(endpoint(301), 10.5) == verdict::too_fast);
}

CAF_TEST(an endpoint whose check failed is not dialed again for a while) {
  claim_checks checks{claim_check_limits{8, 100, 100, 60, 2}};
  CAF_REQUIRE(checks.begin(endpoint(0), 0) == verdict::start);
  checks.end(endpoint(0), false, 1);
  CAF_CHECK(checks.begin(endpoint(0), 30) == verdict::failed_lately);
  CAF_CHECK(checks.begin(endpoint(0), 61.5) == verdict::start);
  // An answered check leaves nothing behind.
  checks.end(endpoint(0), true, 62);
  CAF_CHECK(checks.begin(endpoint(0), 62) == verdict::start);
  checks.end(endpoint(0), true, 62);
  // Only the last max_remembered failures are remembered.
  for (int i = 1; i <= 3; ++i) {
    CAF_REQUIRE(checks.begin(endpoint(i), 70) == verdict::start);
    checks.end(endpoint(i), false, 70);
  }
  CAF_CHECK(checks.begin(endpoint(1), 71) == verdict::start);  // forgotten: the oldest
  CAF_CHECK(checks.begin(endpoint(3), 71) == verdict::failed_lately);
}
