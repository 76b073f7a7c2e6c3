// A small swarm of real dmoe-node processes whose every connection is TLS between members of
// one CA (dmoe-keys' layout): a DHT node, two expert servers and a trainer train on
// Fashion-MNIST; dmoe-shell and dmoe-dht reach the nodes with a member's certificate and not
// without one.
#define CAF_SUITE membership.swarm
#include <caf/test/unit_test.hpp>

#include <csignal>
#include <filesystem>
#include <sstream>

#include "runtime/swarm_keys.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;

namespace {

constexpr auto start_limit = std::chrono::seconds(20);
constexpr auto training_limit = std::chrono::seconds(240);
constexpr const char* hidden = "64";
constexpr int steps = 200;

struct tls_swarm {
  std::string dir = temp_dir("tls-swarm");
  std::vector<process> procs;
  uint16_t dht_port = free_port();
  std::vector<uint16_t> server_ports{free_port(), free_port()};

  tls_swarm() {
    CAF_REQUIRE(!create_swarm_ca(dir + "/ca"));
    for (auto name : {"dht", "server-0", "server-1", "trainer", "operator"})
      CAF_REQUIRE(!issue_node_certificate(dir + "/ca", name, dir + "/members"));
  }

  ~tls_swarm() {
    for (auto& p : procs)
      if (p.pid > 0) {
        kill(p.pid, SIGKILL);
        waitpid(p.pid, nullptr, 0);
      }
    std::filesystem::remove_all(dir);
  }

  std::vector<std::string> tls_args(const std::string& name) const {
    return {"--tls.ca=\"" + dir + "/members/ca.pem\"",
            "--tls.certificate=\"" + dir + "/members/" + name + ".pem\"",
            "--tls.key=\"" + dir + "/members/" + name + ".key\""};
  }

  process& start(std::vector<std::string> args, const std::string& name) {
    args.insert(args.begin(), DMOE_NODE_BINARY);
    for (auto& arg : tls_args(name))
      args.push_back(arg);
    procs.push_back(launch(args, dir + "/" + name + ".log"));
    CAF_REQUIRE(procs.back().pid > 0);
    return procs.back();
  }

  std::string bootstrap() const {
    return "--dht.bootstrap=[\"127.0.0.1:" + std::to_string(dht_port) + "\"]";
  }

  void dump_logs() {
    for (auto& p : procs)
      CAF_MESSAGE(p.log_path << ":\n" << read_file(p.log_path));
  }

  /// dmoe-shell --exec CMD against a node, with `extra` arguments; (exit code, output).
  std::pair<int, std::string> shell(uint16_t port, const std::string& command,
                                    const std::vector<std::string>& extra) {
    auto log = dir + "/shell-" + std::to_string(port) + ".log";
    std::vector<std::string> args{DMOE_SHELL_BINARY, "127.0.0.1:" + std::to_string(port),
                                  "--timeout", "5", "--exec", command};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = launch(args, log);
    return {wait_exit(p.pid, std::chrono::seconds(30)), read_file(log)};
  }

  /// The shell's flags for a member's certificate (its own flag syntax: no quotes).
  std::vector<std::string> shell_tls(const std::string& name) const {
    return {"--tls.ca", dir + "/members/ca.pem", "--tls.certificate",
            dir + "/members/" + name + ".pem", "--tls.key", dir + "/members/" + name + ".key"};
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(tls_swarm_tests, tls_swarm)

CAF_TEST(a DHT node two servers and a trainer train over TLS) {
  start({"--config-file=" DMOE_CONFIG_DIR "/dht-bootstrap.ini",
         "--node.port=" + std::to_string(dht_port)},
        "dht");
  CAF_REQUIRE(wait_listening(dht_port, start_limit));
  for (int i = 0; i < 2; ++i)
    start({"--config-file=" DMOE_CONFIG_DIR "/server.ini",
           "--node.name=\"server-" + std::to_string(i) + "\"",
           "--node.port=" + std::to_string(server_ports[i]), bootstrap(),
           "--server.expert-pattern=\"ffn.[" + std::to_string(2 * i) + ":"
             + std::to_string(2 * i + 2) + "].[0:4]\"",
           std::string{"--server.hidden="} + hidden},
          "server-" + std::to_string(i));
  for (auto port : server_ports)
    CAF_REQUIRE(wait_listening(port, start_limit));
  auto csv = dir + "/trainer.csv";
  auto& trainer = start({"--config-file=" DMOE_CONFIG_DIR "/trainer.ini", bootstrap(),
                         std::string{"--trainer.hidden="} + hidden,
                         "--trainer.max-steps=" + std::to_string(steps),
                         "--trainer.eval-every=1000", "--trainer.eval-samples=2000",
                         "--trainer.metrics-csv=\"" + csv + "\""},
                        "trainer");

  // The operator's shell reaches a server with a member certificate; without one it cannot.
  std::pair<int, std::string> answer;
  poll_until([&] { return (answer = shell(server_ports[0], "experts", shell_tls("operator"))).first == 0; },
             start_limit, std::chrono::milliseconds(200));
  CAF_MESSAGE("dmoe-shell with a member certificate:\n" << answer.second);
  CAF_CHECK_EQUAL(answer.first, 0);
  CAF_CHECK_NOT_EQUAL(answer.second.find("ffn.1.2"), std::string::npos);
  auto plain = shell(server_ports[0], "experts", {});
  CAF_MESSAGE("dmoe-shell without one:\n" << plain.second);
  CAF_CHECK_EQUAL(plain.first, 1);
  CAF_CHECK_NOT_EQUAL(plain.second.find("cannot reach"), std::string::npos);

  auto trainer_rc = wait_exit(trainer.pid, training_limit);
  if (trainer_rc != 0)
    dump_logs();
  CAF_REQUIRE_EQUAL(trainer_rc, 0);
  trainer.pid = -1;
  auto log = read_file(trainer.log_path);
  CAF_MESSAGE(log.substr(log.size() > 2000 ? log.size() - 2000 : 0));
  // Every expert call of the run crossed TLS, and the trainer ran all its steps.
  std::istringstream rows{read_file(csv)};
  std::string row, last;
  while (std::getline(rows, row))
    if (!row.empty())
      last = row;
  CAF_MESSAGE("last metrics row: " << last);
  std::vector<std::string> cells;
  std::istringstream cells_in{last};
  for (std::string cell; std::getline(cells_in, cell, ',');)
    cells.push_back(cell);
  CAF_REQUIRE_GREATER(cells.size(), 1u);
  CAF_CHECK_EQUAL(cells[1], std::to_string(steps));
  CAF_CHECK_NOT_EQUAL(log.find("test accuracy"), std::string::npos);
  // Only the plain shell was refused, by the server it tried.
  for (auto& p : procs) {
    auto text = read_file(p.log_path);
    if (p.log_path != dir + "/server-0.log" && text.find("refused a connection") != std::string::npos)
      CAF_FAIL("a member was refused: " << p.log_path << ":\n" << text);
  }
}

CAF_TEST_FIXTURE_SCOPE_END()
