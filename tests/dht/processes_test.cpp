#define CAF_SUITE dht.processes
#include <caf/test/unit_test.hpp>

#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/io/middleman.hpp>

#include "actors/dht/client.hpp"
#include "runtime/node_config.hpp"

extern char** environ;

using namespace dmoe;

namespace {

constexpr size_t node_count = 5;
constexpr auto connect_deadline = std::chrono::seconds(20);

uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

struct process {
  pid_t pid = -1;
  std::string log_path;
};

process launch(const std::vector<std::string>& args, const std::string& log_path) {
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&files, STDOUT_FILENO, STDERR_FILENO);
  process p;
  p.log_path = log_path;
  if (posix_spawn(&p.pid, args[0].c_str(), &files, nullptr, argv.data(), environ) != 0)
    p.pid = -1;
  posix_spawn_file_actions_destroy(&files);
  return p;
}

/// Waits up to `limit` for `pid` to exit; returns its exit status, or -1 when it did not.
int wait_exit(pid_t pid, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
bool wait_listening(uint16_t port, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (ok)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

struct fixture {
  std::vector<process> procs;
  std::vector<uint16_t> ports;
  std::string dir;

  fixture() {
    char tmpl[] = "/tmp/dmoe-dht-procs-XXXXXX";
    dir = mkdtemp(tmpl);
    for (size_t i = 0; i < node_count; ++i)
      ports.push_back(free_port());
    auto bootstrap = "127.0.0.1:" + std::to_string(ports[0]);
    for (size_t i = 0; i < node_count; ++i) {
      std::vector<std::string> args{DMOE_NODE_BINARY};
      if (i == 0) {
        args.push_back("--config-file=" DMOE_CONFIG_DIR "/dht-bootstrap.ini");
      } else {
        args.push_back("--config-file=" DMOE_CONFIG_DIR "/dht-node.ini");
        args.push_back("--dht.bootstrap=[\"" + bootstrap + "\"]");
      }
      args.push_back("--node.name=\"dht-" + std::to_string(i) + "\"");
      args.push_back("--node.port=" + std::to_string(ports[i]));
      procs.push_back(launch(args, dir + "/node-" + std::to_string(i) + ".log"));
      CAF_REQUIRE(procs.back().pid > 0);
      // Known issue (see the issue-4 note): nodes that start before the bootstrap node
      // listens and join on a retry can leave later lookups hanging; start it first.
      if (i == 0)
        CAF_REQUIRE(wait_listening(ports[0], std::chrono::seconds(20)));
    }
  }

  ~fixture() {
    for (auto& p : procs)
      if (p.pid > 0) {
        kill(p.pid, SIGKILL);
        waitpid(p.pid, nullptr, 0);
      }
  }

  void dump_logs() {
    for (auto& p : procs)
      CAF_MESSAGE(p.log_path << ":\n" << read_file(p.log_path));
  }
};

caf::actor connect(caf::actor_system& system, uint16_t port) {
  auto deadline = std::chrono::steady_clock::now() + connect_deadline;
  while (std::chrono::steady_clock::now() < deadline) {
    auto handle = system.middleman().remote_actor("127.0.0.1", port);
    if (handle)
      return *handle;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return {};
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(process_tests, fixture)

CAF_TEST(five dmoe-node processes store get and survive a SIGKILL) {
  node_config cfg;
  CAF_REQUIRE(!cfg.parse_and_validate(std::vector<std::string>{}));
  caf::actor_system system{cfg};
  std::vector<caf::actor> nodes;
  for (auto port : ports) {
    nodes.push_back(connect(system, port));
    if (!nodes.back())
      dump_logs();
    CAF_REQUIRE(nodes.back());
  }
  // Store through node 1 until all five nodes hold the item (the last ones may still be joining).
  size_t replicas = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (replicas < node_count && std::chrono::steady_clock::now() < deadline) {
    auto stored = dht::store(system, nodes[1], "ffn.0.1", "server-a", "127.0.0.1:7000",
                             dht::wall_clock() + 300);
    if (stored)
      replicas = stored->replicas;
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  CAF_MESSAGE("item stored on " << replicas << " of " << node_count << " nodes");
  if (replicas < node_count)
    dump_logs();
  CAF_REQUIRE_EQUAL(replicas, node_count);
  auto got = dht::get(system, nodes[3], "ffn.0.1");
  if (!got) {
    CAF_MESSAGE("get failed: " << describe(got.error()));
    dump_logs();
  }
  CAF_REQUIRE(got);
  CAF_REQUIRE_EQUAL(got->items.size(), 1u);
  CAF_CHECK_EQUAL(got->items[0].value, "127.0.0.1:7000");

  // SIGKILL the node the item was stored through: no goodbye, the others still answer.
  kill(procs[1].pid, SIGKILL);
  CAF_CHECK_EQUAL(wait_exit(procs[1].pid, std::chrono::seconds(5)), 128 + SIGKILL);
  procs[1].pid = -1;
  for (size_t i : {0u, 2u, 4u}) {
    auto after = dht::get(system, nodes[i], "ffn.0.1");
    CAF_REQUIRE(after);
    CAF_REQUIRE_EQUAL(after->items.size(), 1u);
    CAF_CHECK_EQUAL(after->items[0].subkey, "server-a");
  }
  // A store after the death still reaches every living node.
  auto again = dht::store(system, nodes[2], "ffn.0.2", "server-b", "127.0.0.1:7001",
                          dht::wall_clock() + 300);
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(again->replicas, node_count - 1);

  // The rest stop cleanly on SIGTERM.
  for (size_t i = 0; i < node_count; ++i)
    if (procs[i].pid > 0) {
      kill(procs[i].pid, SIGTERM);
      CAF_CHECK_EQUAL(wait_exit(procs[i].pid, std::chrono::seconds(10)), 0);
      procs[i].pid = -1;
    }
}

CAF_TEST(a bad config or a taken port stops dmoe-node with a clear message) {
  auto run = [&](std::vector<std::string> args, const std::string& name) {
    args.insert(args.begin(), DMOE_NODE_BINARY);
    auto p = launch(args, dir + "/" + name + ".log");
    auto rc = wait_exit(p.pid, std::chrono::seconds(10));
    return std::make_pair(rc, read_file(dir + "/" + name + ".log"));
  };
  auto [rc1, out1] = run({"--config-file=" DMOE_CONFIG_DIR "/dht-node.ini", "--dht.kk=3"}, "unknown");
  CAF_CHECK_EQUAL(rc1, 2);
  CAF_CHECK_NOT_EQUAL(out1.find("dht.kk"), std::string::npos);
  // Port of the running bootstrap node: already in use.
  auto [rc2, out2] = run({"--config-file=" DMOE_CONFIG_DIR "/dht-bootstrap.ini",
                          "--node.port=" + std::to_string(ports[0])},
                         "port");
  CAF_CHECK_EQUAL(rc2, 1);
  CAF_CHECK_NOT_EQUAL(out2.find("cannot listen"), std::string::npos);
  CAF_MESSAGE(out2);
}

CAF_TEST_FIXTURE_SCOPE_END()
