// Fair service and guarded updates against a real dmoe-node over loopback TCP. Each peer is an
// actor system of its own, dialing from a loopback address of its own (127.0.0.2, .3, ...): the
// server charges a peer by its address (runtime/peer_identity.hpp), so the honest client, the
// flooder and the poisoner are three peers, exactly as if they ran on three machines.
//   server.fair_service: one peer floods a server (default limits) with valid forward calls
//     while an honest peer keeps calling; the honest calls are answered in time, the server's
//     memory stays bounded, the flooder is refused as overloaded.
//   server.guarded_updates: a trained expert (checkpoint) is attacked with 1,000 crafted
//     backward calls from one peer; with the update budget and the outlier rule its held-out
//     loss stays within a stated bound; the same attack on a server without them ruins it.
//   hostile.peer_identity (issue 36, row 10): sixteen "peers" with node ids of their own from
//     one address share that address's update budget (at most server.peer-nodes shares); an
//     honest peer elsewhere keeps its own.
#define CAF_SUITE server.fair_service
#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <torch/types.h>

#include "actors/server/server.hpp"
#include "messages/type_ids.hpp"
#include "runtime/expert_codec.hpp"
#include "runtime/experts/expert_backend.hpp"
#include "runtime/logging.hpp"
#include "runtime/node_config.hpp"
#include "runtime/node_dial.hpp"
#include "runtime/wire_guard.hpp"
#include "tests/process_util.hpp"
#include "tests/server/expert_calls.hpp"

using namespace dmoe;
using namespace dmoe::test;
using steady = std::chrono::steady_clock;

namespace {

/// A dmoe-node with the server role (and its DHT, alone) on a free loopback port.
struct server_node {
  std::string dir = temp_dir("abuse");
  uint16_t port = free_port();
  process proc;

  explicit server_node(const std::string& name, std::vector<std::string> extra) {
    std::vector<std::string> args{DMOE_NODE_BINARY, "--config-file=" DMOE_CONFIG_DIR "/server.ini",
                                  "--node.name=\"" + name + "\"",
                                  "--node.port=" + std::to_string(port), "--dht.bootstrap=[]",
                                  "--node.log-level=\"warn\"",
                                  "--server.expert-pattern=\"ffn.[0:1].[0:1]\""};
    args.insert(args.end(), extra.begin(), extra.end());
    proc = launch(args, dir + "/" + name + ".log");
    CAF_REQUIRE(proc.pid > 0);
  }

  ~server_node() {
    if (proc.pid > 0) {
      kill(proc.pid, SIGKILL);
      wait_exit(proc.pid, std::chrono::seconds(10));
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

/// One peer: an actor system (its own node) connected to the server's gateway from `source`, a
/// loopback address.
struct peer {
  node_config cfg;
  std::unique_ptr<caf::actor_system> system;
  caf::actor gateway;

  peer(const server_node& node, const std::string& source) {
    CAF_REQUIRE(!cfg.parse_and_validate(std::vector<std::string>{}));
    system = std::make_unique<caf::actor_system>(cfg);
    wire_guard_options guard;
    guard.source_address = source;
    set_wire_guard_options(*system, guard);
    poll_until(
      [&] {
        auto handle = dial_as<inspector_actor>(*system, "127.0.0.1", node.port,
                                               std::chrono::seconds(5));
        if (handle)
          gateway = caf::actor_cast<caf::actor>(*handle);
        return static_cast<bool>(gateway);
      },
      std::chrono::seconds(20), std::chrono::milliseconds(100));
    if (!gateway)
      CAF_MESSAGE(read_file(node.proc.log_path));
    CAF_REQUIRE(gateway);
  }

  /// One call and its decoded answer (a caf::error inside for refusals and timeouts).
  expert_reply call(const expert_call& request, caf::timespan timeout) {
    return test::call(*system, gateway, request, timeout);
  }

  /// Waits until the node's server role answers (the gateway is up before it is).
  void wait_serving(int64_t hidden) {
    auto x = torch::zeros({1, hidden});
    auto serving = poll_until([&] { return static_cast<bool>(forward(x, std::chrono::seconds(5))); },
                              std::chrono::seconds(30), std::chrono::milliseconds(100));
    CAF_REQUIRE(serving);
  }

  caf::expected<torch::Tensor> forward(const torch::Tensor& x, caf::timespan timeout) {
    auto reply = call(expert_call{forward_call{"ffn.0.0", {x}}}, timeout);
    if (auto* out = std::get_if<forward_result>(&reply))
      return out->outputs.at(0);
    if (auto* err = std::get_if<caf::error>(&reply))
      return *err;
    return make_error(errc::malformed, "not a forward result");
  }
};

errc code_of_reply(const expert_reply& reply) {
  auto* err = std::get_if<caf::error>(&reply);
  return err ? code_of(*err) : errc{0};
}

// ---- the flooder: keeps `window` valid forward calls outstanding until its deadline ----

struct flood_counts {
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> answered{0};
  std::atomic<uint64_t> overloaded{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> outstanding{0};
  std::mutex mutex;
  std::string first_failure;

  void note_failure(const std::string& why) {
    ++failed;
    std::lock_guard<std::mutex> lock{mutex};
    if (first_failure.empty())
      first_failure = why;
  }
};

struct flood_setup {
  caf::actor gateway;
  payload request;
  steady::time_point deadline;
  std::shared_ptr<flood_counts> counts;
};

void flood_once(caf::event_based_actor* self, const flood_setup& s) {
  if (steady::now() >= s.deadline)
    return;
  ++s.counts->sent;
  ++s.counts->outstanding;
  self->request(s.gateway, std::chrono::seconds(10), expert_rpc_atom::value, s.request)
    .then(
      [self, s](payload& reply) {
        --s.counts->outstanding;
        auto decoded = decode_expert_reply(std::move(reply));
        auto code = decoded ? code_of_reply(*decoded) : errc::malformed;
        if (code == errc{0})
          ++s.counts->answered;
        else if (code == errc::overloaded || code == errc::expert_overloaded)
          ++s.counts->overloaded;
        else {
          s.counts->note_failure(decoded ? describe(std::get<caf::error>(*decoded)) : describe(decoded.error()));
        }
        flood_once(self, s);
      },
      [self, s](caf::error& err) {
        --s.counts->outstanding;
        s.counts->note_failure(describe(err));
        flood_once(self, s);
      });
}

caf::behavior flooder(caf::event_based_actor* self, flood_setup s, size_t window) {
  for (size_t i = 0; i < window; ++i)
    flood_once(self, s);
  return {[](caf::unit_t) {}};
}

constexpr int64_t flood_hidden = 128;
constexpr int64_t flood_rows = 128;        // 64 KiB per call
constexpr size_t flood_window = 1024;      // 2x server.peer-max-in-flight's default
constexpr auto flood_duration = std::chrono::seconds(8);
constexpr auto honest_timeout = std::chrono::seconds(5);  // moe.forward-timeout's default
constexpr auto honest_period = std::chrono::milliseconds(20);
// Forward calls keep activations for their backward, up to server.activation-memory-mb (the
// flooder's too). Beyond that, the flooder may hold server.peer-max-queued-mb (256 MiB) of
// requests, each decoded once more into tensors: the stated bound of the server's growth.
constexpr size_t flood_activation_mb = 256;
constexpr size_t flood_rss_bound = (flood_activation_mb + 512) << 20;

}  // namespace

CAF_TEST(a flooding peer is refused while an honest peer is answered in time) {
  log::setup("warn");
  server_node node{"flooded", {"--server.hidden=" + std::to_string(flood_hidden),
                               "--server.activation-memory-mb=" + std::to_string(flood_activation_mb)}};
  peer honest{node, "127.0.0.2"};
  peer flooding{node, "127.0.0.3"};
  auto x = torch::randn({16, flood_hidden});
  honest.wait_serving(flood_hidden);
  auto rss_before = rss_bytes(node.proc.pid);

  auto counts = std::make_shared<flood_counts>();
  auto request = encode(expert_call{forward_call{"ffn.0.0", {torch::randn({flood_rows, flood_hidden})}}});
  auto deadline = steady::now() + flood_duration;
  auto flood = flooding.system->spawn(flooder, flood_setup{flooding.gateway, request, deadline, counts},
                                      flood_window);
  size_t honest_calls = 0;
  size_t honest_failures = 0;
  size_t rss_peak = rss_before;
  std::string first_failure;
  while (steady::now() < deadline) {
    auto started = steady::now();
    auto out = honest.forward(x, honest_timeout);
    ++honest_calls;
    if (!out || out->size(0) != 16) {
      if (honest_failures++ == 0)
        first_failure = out ? "wrong shape" : describe(out.error());
    }
    rss_peak = std::max(rss_peak, rss_bytes(node.proc.pid));
    std::this_thread::sleep_until(started + honest_period);
  }
  poll_until([&] { return counts->outstanding == 0; }, std::chrono::seconds(15));
  caf::anon_send_exit(flood, caf::exit_reason::user_shutdown);

  auto growth = rss_peak > rss_before ? rss_peak - rss_before : 0;
  CAF_MESSAGE("flooder: " << counts->sent << " calls, " << counts->answered << " answered, "
              << counts->overloaded << " overloaded, " << counts->failed << " failed (first: "
              << counts->first_failure << "); honest: "
              << honest_calls << " calls, " << honest_failures << " failed; server RSS +"
              << (growth >> 20) << " MiB");
  if (counts->failed > 0)
    CAF_MESSAGE("the server's log: " << read_file(node.proc.log_path));
  CAF_CHECK_EQUAL(honest_failures, 0u);
  if (honest_failures > 0)
    CAF_MESSAGE("first honest failure: " << first_failure);
  CAF_CHECK_GREATER(honest_calls, 20u);
  CAF_CHECK_GREATER(counts->overloaded.load(), 0u);  // the limits were reached
  CAF_CHECK_GREATER(counts->answered.load(), 0u);    // and the flooder still got its share
  // The flooder's own connection may time out (its heartbeats wait behind its flood): its
  // calls then fail with request_timeout. That is its problem, reported, not checked.
  CAF_CHECK_LESS(growth, flood_rss_bound);
  CAF_CHECK(honest.forward(x, honest_timeout));  // still serving
}

#undef CAF_SUITE
#define CAF_SUITE server.guarded_updates

namespace {

constexpr int64_t poison_hidden = 32;
constexpr int64_t poison_rows = 64;
constexpr size_t poison_calls = 1000;
constexpr double poison_rate = 1e-3;  // the expert's learning rate (server.learning-rate's default)
// What the expert learns: a fixed function of its input.
torch::Tensor target_of(const torch::Tensor& x) {
  return torch::tanh(x.roll(1, 1));
}

double mse(const torch::Tensor& out, const torch::Tensor& x) {
  return torch::mse_loss(out, target_of(x)).item<double>();
}

/// The server's expert's loss on `held_out`, asked in calls of poison_rows (its max batch).
double remote_loss(peer& client, const torch::Tensor& held_out) {
  std::vector<torch::Tensor> outputs;
  for (int64_t row = 0; row < held_out.size(0); row += poison_rows) {
    auto out = client.forward(held_out.narrow(0, row, poison_rows), std::chrono::seconds(5));
    if (!out)
      CAF_FAIL("held-out forward failed: " << describe(out.error()));
    outputs.push_back(*out);
  }
  return mse(torch::cat(outputs, 0), held_out);
}

/// Trains ffn.0.0 locally for the server to load: (loss before, loss after) on `held_out`.
std::pair<double, double> train_checkpoint(const std::string& dir, const torch::Tensor& held_out) {
  optimizer_settings opt;
  opt.learning_rate = poison_rate;
  auto backend = expert_backend::create("ffn.0.0", "ffn", poison_hidden, opt, 7);
  CAF_REQUIRE(backend);
  auto loss = [&] { return mse((*backend)->forward({held_out}).value().at(0), held_out); };
  auto before = loss();
  for (int step = 0; step < 2000; ++step) {
    auto x = torch::randn({poison_rows, poison_hidden});
    auto out = (*backend)->forward({x}).value().at(0);
    auto grad = 2 * (out - target_of(x)) / out.numel();
    CAF_REQUIRE((*backend)->backward({x}, {grad}));
  }
  CAF_REQUIRE(!(*backend)->save(checkpoint_path(dir, "ffn.0.0")));
  return {before, loss()};
}

struct attack_counts {
  size_t applied = 0;
  size_t overloaded = 0;
  size_t other = 0;
};

/// The honest client's steps: the gradient of the true loss, batches of 8 (24 steps stay
/// within the guarded server's update burst of 256 samples).
void train_honestly(peer& client, int steps) {
  for (int i = 0; i < steps; ++i) {
    auto x = torch::randn({8, poison_hidden});
    auto out = client.forward(x, std::chrono::seconds(5));
    CAF_REQUIRE(out);
    auto grad = 2 * (*out - target_of(x)) / out->numel();
    auto reply = client.call(expert_call{backward_call{"ffn.0.0", {x}, {grad}}},
                             std::chrono::seconds(5));
    CAF_REQUIRE(std::holds_alternative<backward_result>(reply));
  }
}

/// 1,000 crafted backward calls: the gradient of the NEGATED loss (the attacker knows the
/// target and asks the expert for its current outputs), every other one scaled 1,000 times.
attack_counts poison(peer& attacker) {
  attack_counts counts;
  for (size_t i = 0; i < poison_calls; ++i) {
    auto x = torch::randn({poison_rows, poison_hidden});
    auto out = attacker.forward(x, std::chrono::seconds(5));
    CAF_REQUIRE(out);
    auto scale = i % 2 == 0 ? 1.0 : 1000.0;
    auto grad = -2 * scale * (*out - target_of(x)) / out->numel();
    auto reply = attacker.call(expert_call{backward_call{"ffn.0.0", {x}, {grad}}},
                               std::chrono::seconds(5));
    auto code = code_of_reply(reply);
    if (code == errc{0})
      ++counts.applied;
    else if (code == errc::overloaded || code == errc::expert_overloaded)
      ++counts.overloaded;
    else
      ++counts.other;
  }
  return counts;
}

/// Held-out loss of the server's expert after an honest warm-up and the attack.
double attacked_loss(const std::string& name, const std::string& checkpoint_dir,
                     std::vector<std::string> guards, const torch::Tensor& held_out,
                     double trained) {
  guards.insert(guards.end(), {"--server.hidden=" + std::to_string(poison_hidden),
                               "--server.learning-rate=" + std::to_string(poison_rate),
                               "--server.max-batch-size=64",
                               "--server.checkpoint-dir=\"" + checkpoint_dir + "\""});
  server_node node{name, guards};
  peer honest{node, "127.0.0.2"};
  peer attacker{node, "127.0.0.3"};
  honest.wait_serving(poison_hidden);
  CAF_CHECK_LESS(std::abs(remote_loss(honest, held_out) - trained), 1e-4);  // the checkpoint
  train_honestly(honest, 24);  // the server sees honest updates first (the outlier rule's reference)
  auto before_attack = remote_loss(honest, held_out);
  auto counts = poison(attacker);
  auto after = remote_loss(honest, held_out);
  CAF_MESSAGE(name << ": " << counts.applied << " poisoned updates applied, " << counts.overloaded
              << " refused as over the update budget, " << counts.other << " other errors; held-out loss " << trained
              << ", " << before_attack << " after honest updates, " << after << " after the attack");
  CAF_CHECK_EQUAL(counts.other, 0u);
  return after;
}

}  // namespace

CAF_TEST(one peer cannot undo an expert with 1000 crafted backward calls) {
  log::setup("warn");
  torch::manual_seed(11);
  auto held_out = torch::randn({512, poison_hidden});
  auto guarded_dir = temp_dir("poison-guarded");
  auto open_dir = temp_dir("poison-open");
  auto [untrained, trained] = train_checkpoint(guarded_dir, held_out);
  std::filesystem::copy(guarded_dir, open_dir, std::filesystem::copy_options::recursive);
  CAF_MESSAGE("held-out loss " << untrained << " untrained, " << trained << " trained");
  CAF_REQUIRE_LESS(trained, 0.5 * untrained);
  // The stated bound: the attack undoes at most half of what training gained. The budget lets
  // the attacker's first 4 calls through (then one per 4 s), the outlier rule clips the
  // scaled ones among them to 10 times each weight's gradient RMS.
  auto bound = trained + 0.5 * (untrained - trained);
  auto guarded = attacked_loss("guarded", guarded_dir,
                               {"--server.peer-update-rate=16", "--server.peer-update-burst=256",
                                "--server.outlier-factor=10"},
                               held_out, trained);
  CAF_CHECK_LESS(guarded, bound);
  // Without the guards the same attack is not bounded: this is what they prevent.
  auto open = attacked_loss("open", open_dir,
                            {"--server.peer-update-rate=0", "--server.outlier-factor=0"},
                            held_out, trained);
  CAF_CHECK_GREATER(open, bound);
  std::error_code ignored;
  std::filesystem::remove_all(guarded_dir, ignored);
  std::filesystem::remove_all(open_dir, ignored);
}

#undef CAF_SUITE
#define CAF_SUITE hostile.peer_identity

namespace {

constexpr size_t sybils = 16;
constexpr int64_t sybil_rows = 64;       // the server's max batch
constexpr size_t sybil_calls_each = 8;   // 512 samples each, twice the burst of 256
constexpr size_t shares_per_address = 4;  // server.peer-nodes

/// Backward calls of `rows` rows with a harmless gradient; how many were applied.
size_t applied_backwards(peer& client, size_t calls, int64_t rows) {
  size_t applied = 0;
  for (size_t i = 0; i < calls; ++i) {
    auto x = torch::randn({rows, poison_hidden});
    auto grad = torch::full({rows, poison_hidden}, 1e-6);
    auto reply = client.call(expert_call{backward_call{"ffn.0.0", {x}, {grad}}},
                             std::chrono::seconds(5));
    if (std::holds_alternative<backward_result>(reply))
      ++applied;
    else
      CAF_CHECK(code_of_reply(reply) == errc::overloaded
                || code_of_reply(reply) == errc::expert_overloaded);
  }
  return applied;
}

}  // namespace

// The update budget (16 samples/s, a burst of 256) holds per address, once per node seen there
// up to server.peer-nodes (4) times: sixteen actor systems from 127.0.0.3, each its own BASP
// node, get four budgets between them. Charged by node id (before) they got sixteen.
CAF_TEST(sixteen node ids from one address share four update budgets) {
  log::setup("warn");
  server_node node{"sybils", {"--server.hidden=" + std::to_string(poison_hidden),
                              "--server.max-batch-size=64", "--server.peer-update-rate=16",
                              "--server.peer-update-burst=256",
                              "--server.peer-nodes=" + std::to_string(shares_per_address)}};
  peer honest{node, "127.0.0.2"};
  honest.wait_serving(poison_hidden);
  std::vector<std::unique_ptr<peer>> attackers;
  for (size_t i = 0; i < sybils; ++i)
    attackers.push_back(std::make_unique<peer>(node, "127.0.0.3"));
  auto started = steady::now();
  size_t attacker_applied = 0;
  for (auto& attacker : attackers)
    attacker_applied += applied_backwards(*attacker, sybil_calls_each, sybil_rows);
  auto seconds = std::chrono::duration<double>(steady::now() - started).count();
  auto honest_applied = applied_backwards(honest, 4, sybil_rows);  // its whole burst
  // Four budgets: the bursts and what the rate refilled while the attack ran.
  auto address_budget =
    static_cast<size_t>(shares_per_address * (256 + 16 * seconds) / sybil_rows) + 1;
  CAF_MESSAGE(attacker_applied << " of " << sybils * sybil_calls_each << " calls of " << sybils
              << " node ids from one address applied in " << seconds << " s (the address's "
              << "budget: " << address_budget << "); the honest peer's " << honest_applied
              << " of 4");
  CAF_CHECK_LESS_OR_EQUAL(attacker_applied, address_budget);
  CAF_CHECK_EQUAL(honest_applied, 4u);
}
