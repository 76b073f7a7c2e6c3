// moe.quorum: the progress rule of the router's jobs, without actors or clocks.
#include <caf/test/unit_test.hpp>

#include "actors/moe/quorum.hpp"

using dmoe::moe::quorum;
using step = quorum::step;

#undef CAF_SUITE
#define CAF_SUITE moe.quorum

CAF_TEST(a job with no call out finishes at once) {
  quorum q{4, 2, true};
  CAF_CHECK(q.next() == step::finish);
  CAF_CHECK_EQUAL(q.below_k_min(), 4u);
}

CAF_TEST(it settles once every sample has k_min answers and finishes when the calls end) {
  quorum q{2, 2, true};
  q.sent({0, 1});
  q.sent({0, 1});
  q.sent({0, 1});  // a third expert per sample: a straggler worth waiting for
  CAF_CHECK(q.next() == step::wait);
  q.answered({0, 1});
  CAF_CHECK(q.next() == step::wait);
  q.answered({0, 1});
  CAF_CHECK(q.next() == step::settle);
  CAF_CHECK(q.next() == step::wait);  // the settle timer is started once
  CAF_CHECK_EQUAL(q.calls_out(), 1u);
  q.answered({0, 1});
  CAF_CHECK(q.next() == step::finish);
  CAF_CHECK_EQUAL(q.answers(0), 3u);
  CAF_CHECK_EQUAL(q.below_k_min(), 0u);
}

CAF_TEST(a sample that can no longer reach k_min ends a strict job at once) {
  quorum q{2, 2, true};
  q.sent({0, 1});
  q.sent({0});
  q.sent({1});
  q.failed({1});  // sample 1: one call left, it needs two
  CAF_CHECK(q.next() == step::finish);
  CAF_CHECK_EQUAL(q.below_k_min(), 2u);
}

CAF_TEST(a lenient job waits for the samples that can still reach k_min) {
  quorum q{2, 2, false};
  q.sent({0, 1});
  q.sent({0});
  q.sent({0});
  q.sent({1});
  q.failed({1});  // sample 1 is short for good; sample 0 can still make it
  CAF_CHECK(q.next() == step::wait);
  q.answered({0, 1});
  CAF_CHECK(q.next() == step::wait);
  q.answered({0});
  CAF_CHECK(q.next() == step::settle);  // one call for sample 0 is still out: a straggler
  q.answered({0});
  CAF_CHECK(q.next() == step::finish);
  CAF_CHECK_EQUAL(q.below_k_min(), 1u);
}

CAF_TEST(a rerouted call counts like the one it replaces) {
  quorum q{1, 1, true};
  q.sent({0});
  q.failed({0});
  CAF_CHECK(q.next() == step::finish);  // nothing out, nothing answered
  quorum r{1, 1, true};
  r.sent({0});
  r.sent({0});  // the spare goes out before the failed call is counted
  r.failed({0});
  CAF_CHECK(r.next() == step::wait);
  r.answered({0});
  CAF_CHECK(r.next() == step::finish);
  CAF_CHECK_EQUAL(r.below_k_min(), 0u);
}
