// Trainers averaging their shared parameters (actors/averager, actors/trainer/outer_averaging)
// as real dmoe-node processes on loopback: small language models trained locally
// (trainer.model = dense, so no expert server is needed) averaging every few steps through the
// DHT and each other's gateways.
#define CAF_SUITE trainer.averaging
#include <caf/test/unit_test.hpp>

#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
#include <regex>

#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;
using namespace std::chrono_literals;

namespace {

constexpr auto start_limit = std::chrono::seconds(20);
constexpr auto training_limit = std::chrono::seconds(240);

struct averaging_swarm {
  std::string dir = temp_dir("averaging");
  std::deque<process> procs;  // references to its elements stay valid as it grows
  uint16_t dht_port = free_port();
  std::string text_file;

  averaging_swarm() {
    start({DMOE_NODE_BINARY, "--config-file=" DMOE_CONFIG_DIR "/dht-bootstrap.ini",
           "--node.port=" + std::to_string(dht_port)},
          "dht");
    CAF_REQUIRE(wait_listening(dht_port, start_limit));
    text_file = write_verses_text(dir);
  }

  ~averaging_swarm() {
    kill_all_launched(procs);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  process& start(std::vector<std::string> args, const std::string& name) {
    procs.push_back(launch(args, dir + "/" + name + ".log"));
    CAF_REQUIRE(procs.back().pid > 0);
    return procs.back();
  }

  /// A trainer of a small dense language model averaging every 5 steps; behind a dmoe-link
  /// (advertised, so its peers' bytes cross it) when `link_rate` is set.
  process& trainer(const std::string& name, const std::string& steps,
                   const std::string& link_rate = {}, std::vector<std::string> extra = {},
                   const std::string& cache = {}) {
    auto port = free_port();
    std::vector<std::string> args{DMOE_NODE_BINARY,
                                  "--config-file=" DMOE_CONFIG_DIR "/lm-trainer.ini",
                                  "--node.name=\"" + name + "\"",
                                  "--node.roles=[\"dht\", \"trainer\"]",
                                  "--node.port=" + std::to_string(port),
                                  "--dht.bootstrap=[\"127.0.0.1:" + std::to_string(dht_port) + "\"]",
                                  "--trainer.model=\"dense\"",
                                  "--trainer.text-file=\"" + text_file + "\"",
                                  "--trainer.cache-dir=\"" + dir + "/" + (cache.empty() ? "cache-" + name : cache) + "\"",
                                  "--trainer.vocab-size=600", "--trainer.hidden=64",
                                  "--trainer.moe-layers=2", "--trainer.context=32",
                                  "--trainer.batch-size=8", "--trainer.max-steps=" + steps,
                                  "--trainer.eval-every=1000", "--trainer.eval-samples=16",
                                  "--trainer.learning-rate=0.003", "--averaging.every=5",
                                  "--averaging.gather-timeout=5s", "--averaging.round-timeout=10s"};
    args.insert(args.end(), extra.begin(), extra.end());
    if (!link_rate.empty()) {
      auto link_port = free_port();
      start({DMOE_LINK_BINARY, "--listen", "127.0.0.1:" + std::to_string(link_port), "--target",
             "127.0.0.1:" + std::to_string(port), "--rate", link_rate},
            name + "-link");
      CAF_REQUIRE(wait_listening(link_port, start_limit));
      args.push_back("--node.advertise=\"127.0.0.1:" + std::to_string(link_port) + "\"");
    }
    return start(args, name);
  }

  std::string log(const std::string& name) const {
    return read_file(dir + "/" + name + ".log");
  }

  /// The groups of the first match of `pattern` in a log (the whole match first), waiting up
  /// to `limit` for it; empty when it did not come.
  std::vector<std::string> wait_log(const std::string& name, const std::regex& pattern,
                                    std::chrono::milliseconds limit) {
    std::vector<std::string> groups;
    poll_until(
      [&] {
        auto text = log(name);
        std::smatch m;
        if (!std::regex_search(text, m, pattern))
          return false;
        for (const auto& g : m)
          groups.push_back(g.str());
        return true;
      },
      limit, 100ms);
    return groups;
  }

  int finish(process& p) {
    auto rc = wait_exit(p.pid, training_limit);
    p.pid = -1;
    return rc;
  }
};

/// Every "outer step N: ... shared parameters F" of a log, by N.
std::map<long, std::string> outer_steps(const std::string& log) {
  static const std::regex line{R"(outer step ([0-9]+): averaged with .* shared parameters ([0-9a-f]+))"};
  std::map<long, std::string> out;
  for (std::sregex_iterator i{log.begin(), log.end(), line}, end; i != end; ++i)
    out[std::stol((*i)[1])] = (*i)[2];
  return out;
}

/// The fingerprint of the shared parameters a trainer ended with (its last log line).
std::string ended_with(const std::string& log) {
  static const std::regex done{R"(done: .*averaging: .* shared parameters ([0-9a-f]+))"};
  std::smatch m;
  return std::regex_search(log, m, done) ? m[1].str() : std::string{};
}

std::string held_out_of(const std::string& log) {
  static const std::regex done{R"(done: .*held-out ([0-9.]+) bits per character)"};
  std::smatch m;
  return std::regex_search(log, m, done) ? m[1].str() : std::string{};
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(averaging_tests, averaging_swarm)

CAF_TEST(two trainers end with one model and a late one joins with the state of the run) {
  auto& a = trainer("trainer-a", "600");
  auto& b = trainer("trainer-b", "600");
  // A third trainer joining after two outer steps downloads the state a published then.
  CAF_REQUIRE(wait_log("trainer-a", std::regex{"outer step 2: averaged"}, training_limit).size() > 0);
  auto& c = trainer("trainer-c", "50");
  auto joined = wait_log("trainer-c",
                         std::regex{R"(joined run 'dmoe' at outer step ([0-9]+) with the swarm's )"
                                    R"(shared parameters ([0-9a-f]+))"},
                         60s);
  CAF_REQUIRE(joined.size() > 0);
  auto step = std::stol(joined[1]);
  auto fingerprint = joined[2];
  CAF_MESSAGE("trainer-c joined at outer step " << step << " with " << fingerprint);
  CAF_CHECK_EQUAL(finish(a), 0);
  CAF_CHECK_EQUAL(finish(b), 0);
  CAF_CHECK_EQUAL(finish(c), 0);
  auto a_steps = outer_steps(log("trainer-a"));
  auto b_steps = outer_steps(log("trainer-b"));
  CAF_REQUIRE(a_steps.count(step) > 0);
  CAF_CHECK_EQUAL(a_steps[step], fingerprint);  // the download is the donor's state, bit for bit
  CAF_MESSAGE("last outer steps: a " << a_steps.rbegin()->first << " " << a_steps.rbegin()->second
              << ", b " << b_steps.rbegin()->first << " " << b_steps.rbegin()->second
              << "; ended with a " << ended_with(log("trainer-a")) << ", b "
              << ended_with(log("trainer-b")) << "; held-out a " << held_out_of(log("trainer-a"))
              << ", b " << held_out_of(log("trainer-b")));
  // One model: the same shared parameters after the last outer step, the same held-out figure.
  CAF_REQUIRE_GREATER_OR_EQUAL(a_steps.size(), 8u);
  CAF_CHECK_EQUAL(a_steps.rbegin()->first, b_steps.rbegin()->first);
  CAF_CHECK_EQUAL(a_steps.rbegin()->second, b_steps.rbegin()->second);
  CAF_CHECK_EQUAL(ended_with(log("trainer-a")), ended_with(log("trainer-b")));
  CAF_CHECK_NOT_EQUAL(ended_with(log("trainer-a")), "");
  CAF_CHECK_EQUAL(held_out_of(log("trainer-a")), held_out_of(log("trainer-b")));
  CAF_CHECK_NOT_EQUAL(held_out_of(log("trainer-a")), "");
}

CAF_TEST(a trainer killed mid-round is dropped and the others average without it) {
  // Links of 2 Mbit/s make each round's all-reduce take seconds: a non-leader is SIGKILLed
  // half a second after its group of three formed (min-group 3), while its parts are on the
  // way. The three share a tokenizer, trained first, so that they start together.
  auto& tokenizer = trainer("tokenizer", "1", {}, {"--averaging.every=0"}, "cache");
  CAF_REQUIRE_EQUAL(finish(tokenizer), 0);
  std::vector<std::string> names{"trainer-a", "trainer-b", "trainer-c"};
  std::map<std::string, process*> by_name;
  for (auto& n : names)
    by_name[n] = &trainer(n, "1000", "2mbit", {"--averaging.min-group=3"}, "cache");
  std::string leader;
  static const std::regex three{R"(leading round [0-9a-f]+ of outer step [0-9]+: 3 members)"};
  CAF_REQUIRE(poll_until(
    [&] {
      for (auto& n : names)
        if (auto text = log(n); std::regex_search(text, three))
          leader = n;
      return !leader.empty();
    },
    training_limit, 20ms));
  std::this_thread::sleep_for(500ms);
  auto victim = leader == names[0] ? names[1] : names[0];
  kill(by_name[victim]->pid, SIGKILL);
  CAF_CHECK_EQUAL(finish(*by_name[victim]), 128 + SIGKILL);
  CAF_MESSAGE("leader " << leader << ", killed " << victim);
  std::vector<std::string> survivors;
  for (auto& n : names)
    if (n != victim)
      survivors.push_back(n);
  // Each survivor's next outer step holds two contributions, within the bounded round time.
  std::map<std::string, std::string> after;
  for (auto& n : survivors) {
    auto m = wait_log(n, std::regex{R"(outer step ([0-9]+): averaged with 2 of 3 trainers.*shared parameters ([0-9a-f]+))"},
                      60s);
    CAF_REQUIRE(m.size() > 0);
    after[n] = m[1] + " " + m[2];
  }
  CAF_CHECK_EQUAL(after[survivors[0]], after[survivors[1]]);
  CAF_MESSAGE("survivors' outer step and parameters: " << after[survivors[0]]);
}

CAF_TEST_FIXTURE_SCOPE_END()
