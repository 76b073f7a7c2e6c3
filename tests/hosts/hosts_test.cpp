// hosts.namespaces: dmoe nodes on separate "hosts" (network namespaces with their own addresses,
// joined by a bridge; tests/hosts/netns_lab.hpp): the DHT bootstrap node on one, expert servers
// on others, a trainer on another. Training runs across them; a server's link cut mid-run is
// handled like a dead server (the router marks it dead, steps go on through the other server),
// and once the link is back the server declares again and is called again. On a link capped with
// tc tbf, calls whose every transfer outlasts the middleman's connection timeout still succeed
// (they cross in parts). Two trainers on two hosts average their shared parameters into one
// model. Everything is watched from outside: dmoe-shell run inside the trainer's namespace, and
// the nodes' logs.
#define CAF_SUITE hosts.namespaces
#include <caf/test/unit_test.hpp>

#include <deque>
#include <fstream>
#include <regex>

#include "tests/hosts/netns_lab.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* dht_port = "4100";
constexpr const char* server_port = "4110";
constexpr const char* trainer_port = "4120";

struct hosts_fixture {
  std::string dir = temp_dir("hosts");
  netns_lab lab{dir};  // declared first: the namespaces outlive the processes in them
  std::deque<process> nodes;  // references to its elements stay valid as it grows
  std::string dht_address;

  ~hosts_fixture() {
    for (auto& p : nodes)
      kill(p.pid, SIGTERM);
    for (auto& p : nodes)
      if (wait_exit(p.pid, 15000ms) < 0) {
        kill(p.pid, SIGKILL);
        wait_exit(p.pid, 5000ms);
      }
  }

  std::string bootstrap() const {
    return "--dht.bootstrap=[\"" + dht_address + ":" + dht_port + "\"]";
  }

  process& start(const std::string& host, const std::string& name,
                 std::vector<std::string> args) {
    auto argv = lab.exec_in(host);
    argv.push_back(DMOE_NODE_BINARY);
    argv.push_back("--node.name=\"" + name + "\"");
    argv.insert(argv.end(), args.begin(), args.end());
    nodes.push_back(launch(argv, dir + "/" + name + ".log"));
    CAF_REQUIRE(nodes.back().pid > 0);
    return nodes.back();
  }

  bool log_says(const process& p, const std::string& text, std::chrono::milliseconds limit) {
    return poll_until([&] { return read_file(p.log_path).find(text) != std::string::npos; },
                      limit, 100ms);
  }

  void start_dht(std::vector<std::string> extra = {}) {
    dht_address = lab.add_host("dht");
    std::vector<std::string> args{"--config-file=" DMOE_CONFIG_DIR "/dht-bootstrap.ini",
                                  "--node.host=\"" + dht_address + "\"",
                                  std::string{"--node.port="} + dht_port};
    args.insert(args.end(), extra.begin(), extra.end());
    auto& p = start("dht", "dht", args);
    CAF_REQUIRE(log_says(p, "listening on", 20000ms));
  }

  /// A server on its own host hosting `pattern`; returns its endpoint.
  std::string start_server(const std::string& host, const std::string& pattern, int hidden,
                           std::vector<std::string> extra = {}) {
    auto address = lab.add_host(host);
    std::vector<std::string> args{
      "--config-file=" DMOE_CONFIG_DIR "/server.ini", "--node.host=\"" + address + "\"",
      std::string{"--node.port="} + server_port, bootstrap(),
      "--server.expert-pattern=\"" + pattern + "\"", "--server.hidden=" + std::to_string(hidden),
      "--server.declare-period=1s", "--server.declare-ttl=8s", "--server.torch-threads=1"};
    args.insert(args.end(), extra.begin(), extra.end());
    start(host, host, args);
    return address + ":" + server_port;
  }

  /// A trainer on its own host, whose link is capped to `rate` (tc syntax) when one is given.
  std::string start_trainer(std::vector<std::string> extra, const std::string& rate = {}) {
    auto address = lab.add_host("trainer");
    if (!rate.empty())
      lab.cap_link("trainer", rate);
    std::vector<std::string> args{"--config-file=" DMOE_CONFIG_DIR "/trainer.ini",
                                  "--node.host=\"" + address + "\"",
                                  std::string{"--node.port="} + trainer_port, bootstrap(),
                                  "--trainer.epochs=0", "--trainer.eval-samples=500"};
    args.insert(args.end(), extra.begin(), extra.end());
    start("trainer", "trainer", args);
    return address + ":" + trainer_port;
  }

  /// dmoe-shell --exec `command` run inside the trainer's namespace.
  std::string shell(const std::string& endpoint, const std::string& command) {
    auto argv = lab.exec_in("trainer");
    argv.insert(argv.end(), {DMOE_SHELL_BINARY, endpoint, "--exec", command});
    return lab.run(argv).second;
  }

  long trainer_step(const std::string& trainer) {
    std::smatch m;
    auto text = shell(trainer, "trainers");
    static const std::regex step{R"(\bstep\D+(\d+))"};
    return std::regex_search(text, m, step) ? std::stol(m[1]) : -1;
  }

  /// Calls the trainer's router has made to experts at `server` (from its `experts` view).
  long calls_to(const std::string& trainer, const std::string& server, std::string* view = nullptr) {
    auto text = shell(trainer, "experts");
    if (view)
      *view = text;
    long total = 0;
    static const std::regex calls{R"((\d+) calls)"};
    std::istringstream lines{text};
    for (std::string line; std::getline(lines, line);) {
      std::smatch m;
      if (line.find(server) != std::string::npos && std::regex_search(line, m, calls))
        total += std::stol(m[1]);
    }
    return total;
  }

  bool reported_dead(const std::string& trainer, const std::string& server) {
    auto text = shell(trainer, "experts");
    auto at = text.find("dead servers:");
    return at != std::string::npos && text.find(server, at) != std::string::npos;
  }

  bool steps_reach(const std::string& trainer, long target, std::chrono::milliseconds limit) {
    return poll_until([&] { return trainer_step(trainer) >= target; }, limit, 250ms);
  }

  void dump_logs() {
    for (auto& p : nodes)
      CAF_MESSAGE(p.log_path << ":\n" << read_file(p.log_path));
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(hosts_tests, hosts_fixture)

CAF_TEST(a swarm on separate hosts trains through a cut link and uses the server again after) {
  start_dht();
  auto s1 = start_server("s1", "ffn.[0:1].[0:4]", 64);
  auto s2 = start_server("s2", "ffn.[1:2].[0:4]", 64);
  auto trainer = start_trainer({"--trainer.hidden=64", "--moe.grid=[2,4]", "--moe.k-best=2",
                                "--trainer.batch-size=32", "--trainer.max-steps=1000000",
                                "--trainer.max-time=240s", "--trainer.eval-every=1000000"});
  if (!steps_reach(trainer, 20, 90000ms)) {
    dump_logs();
    CAF_FAIL("the trainer did not reach 20 steps");
  }
  auto before_cut = calls_to(trainer, s1);
  CAF_MESSAGE("calls to s1 before the cut: " << before_cut);
  CAF_CHECK_GREATER(before_cut, 0);

  lab.set_link("s1", false);
  auto cut = std::chrono::steady_clock::now();
  CAF_CHECK(poll_until([&] { return reported_dead(trainer, s1); }, 20000ms, 250ms));
  auto detected = std::chrono::duration<double>(std::chrono::steady_clock::now() - cut).count();
  CAF_MESSAGE("the router marked " << s1 << " dead " << detected << " s after its link was cut");
  auto step_at_cut = trainer_step(trainer);
  CAF_CHECK(steps_reach(trainer, step_at_cut + 30, 90000ms));
  auto calls_while_cut = calls_to(trainer, s1);

  lab.set_link("s1", true);
  std::string view;
  CAF_CHECK(poll_until([&] { return calls_to(trainer, s1, &view) > calls_while_cut + 10; },
                       60000ms, 500ms));
  CAF_CHECK(!reported_dead(trainer, s1));
  CAF_MESSAGE("after the link came back:\n" << view);
  CAF_CHECK_GREATER(calls_to(trainer, s2), 0);
  auto stats = shell(trainer, "trainers");
  CAF_MESSAGE("trainer: " << stats);
}

CAF_TEST(calls in parts outlast the connection timeout on a link capped with tbf) {
  // 4 Mbit/s: a forward call of 512 x 256 floats takes about 1 s each way, twice the 500 ms
  // after which the middleman gives a silent peer up.
  std::vector<std::string> tight{"--middleman.connection-timeout=500ms",
                                 "--middleman.heartbeat-interval=100ms"};
  start_dht(tight);
  start_server("s1", "ffn.[0:1].[0:1]", 256, tight);
  auto args = tight;
  args.insert(args.end(), {"--trainer.hidden=256", "--moe.grid=[1,1]", "--moe.k-best=1",
                           "--trainer.batch-size=512", "--trainer.max-steps=3",
                           "--moe.forward-timeout=30s", "--moe.backward-timeout=30s"});
  start_trainer(args, "4mbit");
  auto& p = nodes.back();
  auto rc = wait_exit(p.pid, 180000ms);
  auto log = read_file(p.log_path);
  if (rc != 0)
    dump_logs();
  CAF_CHECK_EQUAL(rc, 0);
  std::smatch m;
  static const std::regex done{R"(done: (\d+) steps.* (\d+) failed steps)"};
  CAF_REQUIRE(std::regex_search(log, m, done));
  CAF_CHECK_EQUAL(m[1], "3");
  CAF_CHECK_EQUAL(m[2], "0");
  CAF_MESSAGE("trainer through the capped link: " << m[0]);
  CAF_CHECK_EQUAL(log.find("is down"), std::string::npos);
}

CAF_TEST(trainers on two hosts average into one model) {
  // Two language-model trainers (computing locally: trainer.model = dense) on their own hosts
  // average their parameters every 10 steps through each other's gateways across the bridge.
  start_dht();
  auto text_file = write_verses_text(dir);
  std::vector<process*> trainers;
  for (std::string host : {"t1", "t2"}) {
    auto address = lab.add_host(host);
    trainers.push_back(&start(
      host, host,
      {"--config-file=" DMOE_CONFIG_DIR "/lm-trainer.ini", "--node.roles=[\"dht\", \"trainer\"]",
       "--node.host=\"" + address + "\"", std::string{"--node.port="} + trainer_port,
       bootstrap(), "--trainer.model=\"dense\"", "--trainer.text-file=\"" + text_file + "\"",
       "--trainer.cache-dir=\"" + dir + "/cache-" + host + "\"", "--trainer.vocab-size=600",
       "--trainer.hidden=64", "--trainer.moe-layers=2", "--trainer.context=32",
       "--trainer.batch-size=8", "--trainer.max-steps=200", "--trainer.eval-samples=16",
       "--averaging.every=10"}));
  }
  static const std::regex done{R"(done: 200 steps.*averaging: ([0-9]+) outer steps .* shared parameters ([0-9a-f]+))"};
  std::vector<std::pair<long, std::string>> ends;
  for (auto* p : trainers) {
    auto rc = wait_exit(p->pid, 180000ms);
    auto log = read_file(p->log_path);
    std::smatch m;
    if (rc != 0 || !std::regex_search(log, m, done)) {
      dump_logs();
      CAF_FAIL("a trainer did not end its averaged training");
    }
    CAF_MESSAGE(p->log_path << ": " << m[1] << " outer steps, shared parameters " << m[2]);
    ends.emplace_back(std::stol(m[1]), m[2]);
  }
  CAF_CHECK_GREATER_OR_EQUAL(ends[0].first, 10);
  CAF_CHECK_EQUAL(ends[0].first, ends[1].first);
  CAF_CHECK_EQUAL(ends[0].second, ends[1].second);
}

CAF_TEST_FIXTURE_SCOPE_END()
