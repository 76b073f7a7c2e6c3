// Averaging (actors/averager) among members of one process: each member has its own DHT node
// (an in-process swarm) and averager, and runs rounds from its own thread as a trainer does;
// members reach each other's averagers directly instead of dialing gateways over TCP.
#define CAF_SUITE averager
#include <caf/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <thread>

#include <caf/all.hpp>

#include "actors/averager/averager.hpp"
#include "actors/averager/member.hpp"
#include "actors/dht/local_swarm.hpp"
#include "messages/errors.hpp"
#include "runtime/node_config.hpp"

using namespace dmoe;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t elements = 100003;  // not a multiple of the parts or pieces

struct swarm_fixture {
  node_config cfg;
  std::unique_ptr<caf::actor_system> system;
  std::unique_ptr<dht::local_swarm> dht;
  std::vector<averager_actor> averagers;
  std::vector<std::string> ids;
  averaging_options options;

  std::vector<bool> clients;  // members in client mode: no endpoint

  explicit swarm_fixture(size_t members, vector_encoding_kind enc = vector_encoding_kind::none,
                         std::vector<bool> client = {})
    : clients(client.empty() ? std::vector<bool>(members, false) : client) {
    system = std::make_unique<caf::actor_system>(cfg);
    dht = std::make_unique<dht::local_swarm>(*system, members, dht_options{});
    options.compression = enc;
    options.gather_timeout = 3s;
    options.round_timeout = 3s;
    options.run = "test";
    for (size_t i = 0; i < members; ++i) {
      ids.push_back(std::string(1, static_cast<char>('a' + i)) + new_member_id());
      averager_setup setup;
      setup.name = "avg-" + std::to_string(i);
      setup.options = options;
      setup.dht = dht->nodes[i];
      setup.id = ids[i];
      setup.endpoint = clients[i] ? std::string{} : endpoint(i);
      setup.options.client_mode = clients[i];
      averagers.push_back(spawn_averager(*system, setup));
    }
  }

  ~swarm_fixture() {
    for (auto& a : averagers)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    dht.reset();
  }

  static std::string endpoint(size_t i) {
    return "member:" + std::to_string(i);
  }

  averaging_member member(size_t i) {
    member_setup setup;
    setup.name = "member-" + std::to_string(i);
    setup.options = options;
    setup.averager = averagers[i];
    setup.dht = dht->nodes[i];
    setup.id = ids[i];
    setup.endpoint = clients[i] ? std::string{} : endpoint(i);
    setup.options.client_mode = clients[i];
    auto handles = averagers;
    setup.dial = [handles](const std::string& ep) -> caf::expected<caf::actor> {
      auto i = static_cast<size_t>(std::stoul(ep.substr(ep.find(':') + 1)));
      if (i >= handles.size())
        return make_error(errc::unavailable, "no such member");
      return caf::actor_cast<caf::actor>(handles[i]);
    };
    return averaging_member{*system, std::move(setup)};
  }
};

std::vector<float> random_vector(uint64_t seed) {
  std::mt19937_64 rng{seed};
  std::normal_distribution<float> d{0.0f, 1.0f};
  std::vector<float> v(elements);
  for (auto& x : v)
    x = d(rng);
  return v;
}

/// Every member publishes a state at outer step 0, as a trainer does when it starts, and is
/// listed in the run's members key: a leader waits for as many members as it lists.
void publish_all(swarm_fixture& f, size_t members) {
  for (size_t i = 0; i < members; ++i) {
    auto state = std::make_shared<averaging_state>();
    state->header = avg::state_header{"test", "model", 0, 42, elements};
    f.member(i).publish(state);
  }
  auto listed = [&] {
    auto got = dht::get(*f.system, f.dht->nodes[0], members_key("test"));
    return got && got->items.size() == members;
  };
  for (int attempt = 0; attempt < 100 && !listed(); ++attempt)
    std::this_thread::sleep_for(50ms);
  CAF_REQUIRE(listed());
}

/// Every member's round, run at once from its own thread.
std::vector<caf::expected<round_output>> run_round(swarm_fixture& f, size_t members,
                                                   const std::vector<std::vector<float>>& values,
                                                   const std::vector<double>& weights) {
  publish_all(f, members);
  std::vector<caf::expected<round_output>> out(members, make_error(errc::internal, "not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < members; ++i)
    threads.emplace_back([&, i] {
      auto m = f.member(i);
      out[i] = m.average(round_input{0, 42, weights[i], elements, [&, i] { return &values[i]; }});
    });
  for (auto& t : threads)
    t.join();
  return out;
}

std::vector<double> weighted_mean(const std::vector<std::vector<float>>& values,
                                  const std::vector<double>& weights, size_t members) {
  std::vector<double> mean(elements, 0.0);
  double total = 0;
  for (size_t i = 0; i < members; ++i)
    total += weights[i];
  for (size_t i = 0; i < members; ++i)
    for (uint64_t j = 0; j < elements; ++j)
      mean[j] += weights[i] / total * values[i][j];
  return mean;
}

double max_error(const std::vector<float>& got, const std::vector<double>& want) {
  double worst = 0;
  for (uint64_t j = 0; j < elements; ++j)
    worst = std::max(worst, std::fabs(got[j] - want[j]));
  return worst;
}

/// Every member averaged with all `n`, within `bound` of `want`, and to the same bytes.
void check_members(const std::vector<caf::expected<round_output>>& out, size_t n,
                   const std::vector<double>& want, double bound) {
  for (size_t i = 0; i < n; ++i) {
    if (!out[i])
      CAF_MESSAGE("member " << i << ": " << describe(out[i].error()));
    CAF_REQUIRE(out[i]);
    CAF_CHECK_EQUAL(out[i]->members, n);
    CAF_CHECK_EQUAL(out[i]->survivors, n);
    auto err = max_error(out[i]->average, want);
    CAF_MESSAGE("member " << i << ": largest error " << err << " (bound " << bound << ")");
    CAF_CHECK_LESS_OR_EQUAL(err, bound);
    CAF_CHECK(std::memcmp(out[i]->average.data(), out[0]->average.data(), 4 * elements) == 0);
  }
}

void check_round(vector_encoding_kind enc, double bound) {
  constexpr size_t n = 3;
  swarm_fixture f{n, enc};
  std::vector<std::vector<float>> values;
  for (size_t i = 0; i < n; ++i)
    values.push_back(random_vector(i + 1));
  std::vector<double> weights{1, 2, 3};
  auto out = run_round(f, n, values, weights);
  check_members(out, n, weighted_mean(values, weights, n), bound);
  CAF_CHECK_EQUAL(out[0]->weight, 6.0);
}

}  // namespace

CAF_TEST(members average to the weighted mean and end with the same bytes) {
  check_round(vector_encoding_kind::none, 1e-6);
}

CAF_TEST(float16 and int8 stay within their documented error) {
  // float16: each of the two encodings (contribution, average) errs by at most 2^-11 of the
  // value; the values here stay below 6 in magnitude.
  check_round(vector_encoding_kind::float16, 2 * 6.0 / 2048);
  // int8: each encoding errs by at most half a step, max|block| / 254; the blocks' largest
  // values here stay below 6.
  check_round(vector_encoding_kind::int8, 2 * 6.0 / 254);
}

CAF_TEST(a member in client mode takes part and reduces nothing) {
  // Member a (the smallest id) is a client: it cannot lead, so b does, and the two parts go to
  // b and c; a still sends its contributions and fetches the averages.
  constexpr size_t n = 3;
  swarm_fixture f{n, vector_encoding_kind::none, {true, false, false}};
  std::vector<std::vector<float>> values{random_vector(1), random_vector(2), random_vector(3)};
  std::vector<double> weights{2, 1, 1};
  auto out = run_round(f, n, values, weights);
  check_members(out, n, weighted_mean(values, weights, n), 1e-6);
  for (size_t i = 0; i < n; ++i)
    CAF_CHECK_EQUAL(out[i]->reducers, 2u);
}

CAF_TEST(a member that dies mid-round is dropped and the survivors average) {
  // Members a and b run their rounds; c joins a's group, sends its contribution to a's part
  // only and dies: its own part (orphaned) is reduced again by the leader, its missing
  // contribution to b's part drops it, and a and b end with their own mean.
  constexpr size_t n = 3;
  swarm_fixture f{n};
  std::vector<std::vector<float>> values{random_vector(1), random_vector(2), random_vector(3)};
  std::vector<double> weights{1, 3, 5};
  // c's entry for the round, so that a waits for it.
  avg::member c{f.ids[2], swarm_fixture::endpoint(2), 0, 42, weights[2], elements};
  CAF_REQUIRE(dht::declare(*f.system, f.dht->nodes[2], round_key("test", 0), "r",
                           encode_member("test", c), dht::wall_clock() + 60));
  std::vector<caf::expected<round_output>> out(2, make_error(errc::internal, "not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < 2; ++i)
    threads.emplace_back([&, i] {
      auto m = f.member(i);
      out[i] = m.average(round_input{0, 42, weights[i], elements, [&, i] { return &values[i]; }});
    });
  caf::scoped_actor self{*f.system};
  std::optional<avg::group> g;
  for (int attempt = 0; attempt < 50 && !g; ++attempt) {
    self->request(f.averagers[0], 5s, average_rpc_atom::value,
                  avg::encode_request(avg::request{"test", 0, c}))
      .receive(
        [&](payload& reply) {
          auto r = avg::decode_reply(reply, wire_limits{});
          if (r && std::holds_alternative<avg::group>(*r))
            g = std::get<avg::group>(*r);
        },
        [](caf::error&) {});
    if (!g)
      std::this_thread::sleep_for(100ms);
  }
  CAF_REQUIRE(g);
  CAF_REQUIRE_EQUAL(g->members.size(), 3u);
  CAF_REQUIRE_EQUAL(g->parts(), 3u);
  // c's part of a's share (part 0), then death.
  for (uint64_t off = 0; off < g->part_size(0); off += avg::piece_elements) {
    auto count = static_cast<uint32_t>(std::min<uint64_t>(avg::piece_elements, g->part_size(0) - off));
    auto piece = avg::encode_piece(values[2].data() + off, count, avg::encoding::float32, 0, off);
    self->request(f.averagers[0], 5s, average_rpc_atom::value,
                  avg::encode_request(avg::request{"test", g->id, avg::contribute{2, piece}}))
      .receive([](payload&) {}, [](caf::error&) {});
  }
  caf::anon_send_exit(f.averagers[2], caf::exit_reason::kill);
  for (auto& t : threads)
    t.join();
  auto want = weighted_mean(values, weights, 2);
  for (size_t i = 0; i < 2; ++i) {
    if (!out[i])
      CAF_MESSAGE("member " << i << ": " << describe(out[i].error()));
    CAF_REQUIRE(out[i]);
    CAF_CHECK_EQUAL(out[i]->members, 3u);
    CAF_CHECK_EQUAL(out[i]->survivors, 2u);
    CAF_CHECK_LESS_OR_EQUAL(max_error(out[i]->average, want), 1e-6);
    CAF_CHECK(std::memcmp(out[i]->average.data(), out[0]->average.data(), 4 * elements) == 0);
  }
}

CAF_TEST(a member whose contribution holds a NaN is dropped and the others average) {
  constexpr size_t n = 3;
  swarm_fixture f{n};
  std::vector<std::vector<float>> values{random_vector(1), random_vector(2), random_vector(3)};
  values[2][5] = std::nanf("");
  std::vector<double> weights{1, 2, 3};
  auto out = run_round(f, n, values, weights);
  auto want = weighted_mean(values, weights, 2);
  for (size_t i = 0; i < 2; ++i) {
    if (!out[i])
      CAF_MESSAGE("member " << i << ": " << describe(out[i].error()));
    CAF_REQUIRE(out[i]);
    CAF_CHECK_EQUAL(out[i]->survivors, 2u);
    CAF_CHECK_LESS_OR_EQUAL(max_error(out[i]->average, want), 1e-6);
    CAF_CHECK(std::memcmp(out[i]->average.data(), out[0]->average.data(), 4 * elements) == 0);
  }
  CAF_REQUIRE(!out[2]);
  CAF_MESSAGE("the NaN sender: " << describe(out[2].error()));
}

CAF_TEST(a donor that dies mid-download is replaced by another) {
  // The most advanced donor (a stand-in at outer step 3) answers the first piece of its state
  // and dies; the download starts again from the next donor (member b at outer step 2).
  constexpr size_t n = 3;
  swarm_fixture f{n};
  auto real = std::make_shared<averaging_state>();
  real->header = avg::state_header{"test", "model", 2, 77, elements};
  real->values = random_vector(5);
  auto momentum = random_vector(6);
  real->values.insert(real->values.end(), momentum.begin(), momentum.end());
  f.member(1).publish(real);
  auto fake_values = random_vector(7);
  fake_values.resize(2 * elements, 0.0f);
  auto fake = f.system->spawn([fake_values](caf::event_based_actor* self) -> caf::behavior {
    return {[=](average_rpc_atom, const payload& in) -> caf::result<payload> {
      auto req = avg::decode_request(in, wire_limits{});
      auto* fetch = req ? std::get_if<avg::state_fetch>(&req->body) : nullptr;
      if (!fetch || fetch->offset != 0) {
        self->quit();  // dies mid-download
        return make_error(errc::unavailable, "gone");
      }
      return avg::encode_reply(avg::state_reply{
        avg::state_header{"test", "model", 3, 99, elements},
        avg::encode_piece(fake_values.data(), fetch->count, avg::encoding::float32, 0, 0)});
    }};
  });
  f.averagers.push_back(caf::actor_cast<averager_actor>(fake));
  avg::member stand_in{"z" + new_member_id(), swarm_fixture::endpoint(3), 3, 99, 0, elements};
  CAF_REQUIRE(dht::declare(*f.system, f.dht->nodes[2], members_key("test"), "m",
                           encode_member("test", stand_in), dht::wall_clock() + 60));
  auto both_listed = [&] {
    auto got = dht::get(*f.system, f.dht->nodes[0], members_key("test"));
    return got && got->items.size() == 2;
  };
  for (int attempt = 0; attempt < 100 && !both_listed(); ++attempt)
    std::this_thread::sleep_for(50ms);
  CAF_REQUIRE(both_listed());
  auto got = f.member(0).download_state("model", elements);
  if (!got)
    CAF_MESSAGE("download: " << describe(got.error()));
  CAF_REQUIRE(got);
  CAF_CHECK_EQUAL(got->header.outer_step, 2u);
  CAF_CHECK_EQUAL(got->header.fingerprint, 77u);
  CAF_REQUIRE_EQUAL(got->values.size(), real->values.size());
  CAF_CHECK(std::memcmp(got->values.data(), real->values.data(), 4 * real->values.size()) == 0);
}

CAF_TEST(bad pieces and a state of another run are refused and the averager goes on) {
  swarm_fixture f{1};
  caf::scoped_actor self{*f.system};
  auto ask = [&](const avg::request& r) {
    caf::expected<avg::reply> out = make_error(errc::internal, "no reply");
    self->request(f.averagers[0], 5s, average_rpc_atom::value, avg::encode_request(r))
      .receive([&](payload& p) { out = avg::decode_reply(p, wire_limits{}); },
               [&](caf::error& e) { out = e; });
    return out;
  };
  // Another run.
  auto other = ask(avg::request{"another", 0, avg::state_fetch{0, 10, false, 0}});
  CAF_REQUIRE(!other);
  CAF_CHECK_EQUAL(code_of(other.error()), errc::forbidden);
  // No state yet, then a state: served; a piece beyond it refused.
  CAF_CHECK_EQUAL(code_of(ask(avg::request{"test", 0, avg::state_fetch{0, 10, false, 0}}).error()),
                  errc::not_found);
  auto state = std::make_shared<averaging_state>();
  state->header = avg::state_header{"test", "model-a", 3, 7, 5};
  state->values = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  self->request(f.averagers[0], 5s, avg_state_atom::value, state_ptr{state})
    .receive([](bool) {}, [](caf::error&) {});
  auto served = ask(avg::request{"test", 0, avg::state_fetch{0, 10, false, 0}});
  CAF_REQUIRE(served);
  CAF_CHECK_EQUAL(std::get<avg::state_reply>(*served).header.model, "model-a");
  CAF_CHECK_EQUAL(code_of(ask(avg::request{"test", 0, avg::state_fetch{5, 10, false, 0}}).error()),
                  errc::invalid_argument);
  // A download pinned to outer step 3 finishes after the trainer published steps 4 and 5; the
  // last three are kept, so step 3 is gone once step 6 is out.
  for (uint64_t step = 4; step <= 6; ++step) {
    auto next = std::make_shared<averaging_state>(*state);
    next->header.outer_step = step;
    self->request(f.averagers[0], 5s, avg_state_atom::value, state_ptr{next})
      .receive([](bool) {}, [](caf::error&) {});
    auto pinned = ask(avg::request{"test", 0, avg::state_fetch{0, 10, true, 3}});
    if (step < 6) {
      CAF_REQUIRE(pinned);
      CAF_CHECK_EQUAL(std::get<avg::state_reply>(*pinned).header.outer_step, 3u);
    } else {
      CAF_REQUIRE(!pinned);
      CAF_CHECK_EQUAL(code_of(pinned.error()), errc::expired);
    }
  }
  // A piece whose bytes do not match its count, and one holding a NaN.
  auto p = avg::encode_piece(state->values.data(), 4, avg::encoding::float32, 0, 0);
  p.data.pop_back();
  auto bytes = avg::encode_request(avg::request{"test", 1, avg::contribute{0, p}});
  auto short_piece = avg::decode_request(bytes, wire_limits{});
  CAF_REQUIRE(!short_piece);
  CAF_CHECK_EQUAL(code_of(short_piece.error()), errc::invalid_argument);
  std::vector<float> nan{1.0f, std::nanf("")};
  CAF_CHECK_EQUAL(code_of(avg::decode_piece(avg::encode_piece(nan.data(), 2, avg::encoding::float16, 0, 0)).error()),
                  errc::non_finite);
  // A join with nobody leading, and the averager still serving.
  CAF_CHECK_EQUAL(code_of(ask(avg::request{"test", 0, avg::member{"x", "", 0, 1, 1, 5}}).error()),
                  errc::not_found);
  CAF_CHECK(ask(avg::request{"test", 0, avg::state_fetch{0, 10, false, 0}}));
}
