// Pure logic of the server: expert patterns and samples (server.pattern), the batching queue
// with time passed in (server.batch_queue), and the deduplicated declaration items.
#define CAF_SUITE server.pattern
#include <caf/test/unit_test.hpp>

#include <set>

#include "actors/server/server_experts.hpp"
#include "messages/expert_id.hpp"
#include "runtime/experts/batch_queue.hpp"
#include "messages/expert_pattern.hpp"

using namespace dmoe;

namespace {

std::string error_code(const std::string& pattern) {
  auto ids = expand_expert_pattern(pattern);
  return ids ? "ok" : to_string(code_of(ids.error()));
}

}  // namespace

CAF_TEST(a two - dimensional pattern expands row - major with half - open ranges) {
  auto ids = expand_expert_pattern("ffn.[0:4].[0:4]");
  CAF_REQUIRE(ids);
  CAF_REQUIRE_EQUAL(ids->size(), 16u);
  CAF_CHECK_EQUAL(ids->front(), "ffn.0.0");
  CAF_CHECK_EQUAL((*ids)[1], "ffn.0.1");
  CAF_CHECK_EQUAL((*ids)[4], "ffn.1.0");
  CAF_CHECK_EQUAL(ids->back(), "ffn.3.3");
  for (auto& id : *ids)
    CAF_CHECK(is_valid_expert_id(id));
}

CAF_TEST(plain numbers are single coordinates) {
  auto ids = expand_expert_pattern("expert_x.3.[5:7]");
  CAF_REQUIRE(ids);
  CAF_CHECK_EQUAL(*ids, (std::vector<std::string>{"expert_x.3.5", "expert_x.3.6"}));
  auto one = expand_expert_pattern("ffn.7");
  CAF_REQUIRE(one);
  CAF_CHECK_EQUAL(*one, std::vector<std::string>{"ffn.7"});
}

CAF_TEST(patterns apart by commas give the ids of each in turn once) {
  auto ids = expand_expert_pattern("ffn.0.[0:2],ffn-1.0.[0:2],ffn.0.1");
  CAF_REQUIRE(ids);
  CAF_CHECK_EQUAL(*ids, (std::vector<std::string>{"ffn.0.0", "ffn.0.1", "ffn-1.0.0", "ffn-1.0.1"}));
}

CAF_TEST(bad patterns are errors) {
  for (auto bad : {"", "ffn", "ffn.", "ffn.[0:0]", "ffn.[3:1]", "ffn.[0:4", "ffn.[a:4]",
                   "ffn.-1", "3ffn.1", "ffn.[0:4].x", "ffn..1", "ffn.[0:2000].[0:2000]",
                   "ffn.0.1,", ",ffn.0.1", "ffn.0.1,,ffn.0.2",
                   "ffn.[0:1024].[0:1024],ffn-1.[0:1].[0:1]"}) {
    CAF_MESSAGE("pattern '" << bad << "'");
    CAF_CHECK_EQUAL(error_code(bad), "invalid_argument");
  }
}

CAF_TEST(samples are seeded subsets in pattern order) {
  auto ids = *expand_expert_pattern("ffn.[0:8].[0:8]");
  auto a = sample_expert_ids(ids, 10, 7);
  auto b = sample_expert_ids(ids, 10, 7);
  auto c = sample_expert_ids(ids, 10, 8);
  CAF_REQUIRE(a && b && c);
  CAF_CHECK_EQUAL(a->size(), 10u);
  CAF_CHECK_EQUAL(*a, *b);
  CAF_CHECK_NOT_EQUAL(*a, *c);
  CAF_CHECK(std::is_sorted(a->begin(), a->end()));  // pattern order is lexicographic here
  CAF_CHECK_EQUAL(std::set<std::string>(a->begin(), a->end()).size(), 10u);
  auto all = sample_expert_ids(ids, 0, 7);
  CAF_REQUIRE(all);
  CAF_CHECK_EQUAL(*all, ids);
  CAF_CHECK(!sample_expert_ids(ids, 65, 7));
}

CAF_TEST(expert seeds depend on the server seed and the id) {
  CAF_CHECK_EQUAL(expert_seed(1, "ffn.0.0"), expert_seed(1, "ffn.0.0"));
  CAF_CHECK_NOT_EQUAL(expert_seed(1, "ffn.0.0"), expert_seed(2, "ffn.0.0"));
  CAF_CHECK_NOT_EQUAL(expert_seed(1, "ffn.0.0"), expert_seed(1, "ffn.0.1"));
  server_options o;
  o.seed = 0;
  CAF_CHECK_EQUAL(server_seed(o, "node-a"), stable_hash("node-a"));
  o.seed = 5;
  CAF_CHECK_EQUAL(server_seed(o, "node-a"), 5u);
}

#undef CAF_SUITE
#define CAF_SUITE server.batch_queue

namespace {

using queue = batch_queue<int>;
using std::chrono::milliseconds;

struct queue_fixture {
  queue::time_point t0 = queue::clock::now();
  queue q{10, milliseconds(5)};

  // A history of 16 calls 1 ms apart, ending 100 ms before t0: more calls are expected.
  queue_fixture() {
    for (int i = 0; i < 16; ++i) {
      q.push(-1, 1, {}, t0 - milliseconds(116 - i));
      q.take();
    }
  }
};

std::vector<int> items_of(const std::vector<queue::entry>& batch) {
  std::vector<int> out;
  for (auto& e : batch)
    out.push_back(e.item);
  return out;
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(batch_queue_tests, queue_fixture)

CAF_TEST(a batch waits until it is full or the oldest call waited max_wait) {
  CAF_CHECK(!q.ready(t0));
  q.push(1, 4, {}, t0);
  q.push(2, 4, {}, t0 + milliseconds(1));
  CAF_CHECK(!q.ready(t0 + milliseconds(4)));
  CAF_CHECK(q.ready(t0 + milliseconds(5)));
  CAF_CHECK(q.deadline() == t0 + milliseconds(5));
  q.push(3, 2, {}, t0 + milliseconds(2));
  CAF_CHECK(q.ready(t0 + milliseconds(2)));  // 10 samples: full
  CAF_CHECK_EQUAL(items_of(q.take()), (std::vector<int>{1, 2, 3}));
  CAF_CHECK(q.empty());
  CAF_CHECK_EQUAL(q.samples(), 0u);
}

CAF_TEST(a call that does not fit waits for the next batch and the batch counts as full) {
  q.push(1, 6, {}, t0);
  q.push(2, 6, {}, t0);
  CAF_CHECK(q.ready(t0));  // nothing more can join the first batch
  CAF_CHECK_EQUAL(items_of(q.take()), std::vector<int>{1});
  CAF_CHECK_EQUAL(q.size(), 1u);
  CAF_CHECK_EQUAL(q.samples(), 6u);
  CAF_CHECK(!q.ready(t0));
  CAF_CHECK_EQUAL(items_of(q.take()), std::vector<int>{2});
}

CAF_TEST(a caller with a backlog does not hold back the first call of another) {
  for (int i = 1; i <= 5; ++i)
    q.push(i, 4, {}, t0, 1);  // a flooder's backlog, lane 1
  q.push(6, 2, {}, t0 + milliseconds(1), 2);
  // Round one: each lane's oldest call (1, then 6); round two: 2; then the batch is full.
  CAF_CHECK_EQUAL(items_of(q.take()), (std::vector<int>{1, 2, 6}));
  CAF_CHECK_EQUAL(items_of(q.take()), (std::vector<int>{3, 4}));
  q.push(7, 2, {}, t0 + milliseconds(2), 2);
  CAF_CHECK_EQUAL(items_of(q.take()), (std::vector<int>{5, 7}));
}

CAF_TEST(only calls with the front call key are merged and the others keep their order) {
  q.push(1, 2, {1, 8}, t0);
  q.push(2, 2, {1, 9}, t0);
  q.push(3, 2, {1, 8}, t0);
  q.push(4, 2, {1, 9}, t0);
  CAF_CHECK_EQUAL(items_of(q.take()), (std::vector<int>{1, 3}));
  CAF_CHECK_EQUAL(items_of(q.take()), (std::vector<int>{2, 4}));
}

CAF_TEST(a queue whose calls come far apart starts each batch at once) {
  queue quiet{10, milliseconds(5)};
  quiet.push(1, 4, {}, t0);
  CAF_CHECK(!quiet.more_expected());
  CAF_CHECK(quiet.ready(t0));  // a fresh queue does not wait
  quiet.take();
  for (int i = 1; i <= 3; ++i) {
    quiet.push(i, 4, {}, t0 + milliseconds(20 * i));
    CAF_CHECK(quiet.ready(t0 + milliseconds(20 * i)));
    quiet.take();
  }
}

CAF_TEST(calls coming close together make batches wait and sparse ones stop the waiting) {
  CAF_CHECK(q.more_expected());
  q.push(1, 4, {}, t0);  // one gap of 100 ms does not change the estimate much
  CAF_CHECK(q.more_expected());
  CAF_CHECK(!q.ready(t0 + milliseconds(1)));
  q.take();
  // calls 50 ms apart: after a few of them a lone call goes at once
  int waited = 0;
  for (int i = 1; i <= 12; ++i) {
    auto at = t0 + milliseconds(50 * i);
    q.push(i, 4, {}, at);
    waited += q.ready(at) ? 0 : 1;
    q.take();
  }
  CAF_CHECK(!q.more_expected());
  CAF_CHECK_GREATER(waited, 0);
  CAF_CHECK_LESS(waited, 12);
}

CAF_TEST(without adaptive waiting even a fresh queue waits) {
  queue always{10, milliseconds(5), false};
  always.push(1, 4, {}, t0);
  CAF_CHECK(!always.ready(t0 + milliseconds(4)));
  CAF_CHECK(always.ready(t0 + milliseconds(5)));
}

CAF_TEST(an oversized call still leaves the queue) {
  q.push(1, 50, {}, t0);
  CAF_CHECK(q.ready(t0));
  CAF_CHECK_EQUAL(items_of(q.take()), std::vector<int>{1});
}

CAF_TEST_FIXTURE_SCOPE_END()
