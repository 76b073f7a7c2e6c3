// dmoe-shell as a real process (inspector.shell): this test process publishes an inspector on a
// loopback port and runs the shell against it with --exec, interactively from a file (history
// written to a temporary HOME), against a port nobody listens on, and with a bad address.
#define CAF_SUITE inspector.shell
#include <caf/test/unit_test.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/io/middleman.hpp>

#include "actors/inspector/inspector.hpp"
#include "runtime/node_config.hpp"
#include "tests/inspector/stand_ins.hpp"
#include "tests/process_util.hpp"


using namespace dmoe;
namespace fs = std::filesystem;

namespace {

constexpr auto shell_deadline = std::chrono::seconds(30);
constexpr auto poll_interval = std::chrono::milliseconds(10);

struct run_result {
  int exit_code = -1;
  std::string out, err;
};

std::string slurp(const fs::path& path) {
  std::ifstream in{path};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

struct fixture {
  node_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  server_stats_actor server;
  inspector_actor inspector;
  uint16_t port = 0;
  fs::path dir;

  fixture() {
    char name[] = "/tmp/dmoe-shell-test-XXXXXX";
    dir = mkdtemp(name);
    if (auto err = cfg.parse_and_validate(std::vector<std::string>{}))
      CAF_FAIL("config: " << describe(err));
    sys = std::make_unique<caf::actor_system>(cfg);
    server = sys->spawn(test::stand_in<server_stats>, test::sample_server_stats());
    inspector_setup setup;
    setup.node_name = "shell-test";
    setup.endpoint = "127.0.0.1:6000";
    setup.server = server;
    inspector = spawn_inspector(*sys, std::move(setup));
    auto published = sys->middleman().publish(inspector, 0, "127.0.0.1");
    CAF_REQUIRE(published);
    port = *published;
  }

  ~fixture() {
    sys->middleman().unpublish(inspector, port);
    caf::anon_send_exit(inspector, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  std::string address() const {
    return "127.0.0.1:" + std::to_string(port);
  }

  // Runs dmoe-shell with `args`, stdin from `input` (or /dev/null), HOME set to the temp dir.
  run_result shell(std::vector<std::string> args, const std::string& input = {}) {
    args.insert(args.begin(), DMOE_SHELL_BINARY);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    auto in_path = (dir / "stdin").string();
    std::ofstream{in_path} << input;
    auto out_path = (dir / "stdout").string();
    auto err_path = (dir / "stderr").string();
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, STDIN_FILENO, in_path.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, out_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&files, STDERR_FILENO, err_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> env_text{"HOME=" + dir.string(), "TERM=dumb"};
    for (char** e = environ; *e != nullptr; ++e)
      if (std::strncmp(*e, "HOME=", 5) != 0 && std::strncmp(*e, "TERM=", 5) != 0)
        env_text.emplace_back(*e);
    std::vector<char*> envp;
    for (auto& e : env_text)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = -1;
    auto spawned = posix_spawn(&pid, argv[0], &files, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&files);
    CAF_REQUIRE_EQUAL(spawned, 0);
    run_result result;
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + shell_deadline;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        CAF_FAIL("dmoe-shell did not exit within the deadline");
      }
      std::this_thread::sleep_for(poll_interval);
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = slurp(out_path);
    result.err = slurp(err_path);
    CAF_MESSAGE("dmoe-shell exited with " << result.exit_code << "\nstdout:\n"
                                          << result.out << "stderr:\n" << result.err);
    return result;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(shell_tests, fixture)

CAF_TEST(exec runs the commands and prints the answers) {
  auto r = shell({address(), "--exec", "experts", "--exec", "nodes"});
  CAF_CHECK_EQUAL(r.exit_code, 0);
  CAF_CHECK(contains(r.out, "ffn.1.1"));
  CAF_CHECK(contains(r.out, "ffn.3.0"));
  CAF_CHECK(contains(r.out, "127.0.0.1:6000"));
  CAF_CHECK(contains(r.out, "this node: shell-test at 127.0.0.1:6000"));
  CAF_CHECK(r.err.empty());
}

CAF_TEST(a failed command gives exit code 1 and a message on stderr) {
  auto r = shell({address(), "-e", "bogus thing", "-e", "dht store k s v 5", "-e", "help"});
  CAF_CHECK_EQUAL(r.exit_code, 1);
  CAF_CHECK(contains(r.err, "'bogus thing' failed: invalid_argument: unknown command 'bogus'"));
  CAF_CHECK(contains(r.err, "read-only"));
  CAF_CHECK(contains(r.out, "dht get KEY"));  // later commands still ran
}

CAF_TEST(interactive input runs line by line until quit and keeps a history) {
  auto r = shell({address()}, "help\n\n   \nexperts\nquit\nnodes\n");
  CAF_CHECK_EQUAL(r.exit_code, 0);
  CAF_CHECK(contains(r.out, "experts with server, load, latency, failures"));
  CAF_CHECK(contains(r.out, "ffn.1.1"));
  CAF_CHECK(!contains(r.out, "this node:"));  // after quit
  auto history = slurp(dir / ".dmoe_shell_history");
  CAF_CHECK(contains(history, "help"));
  CAF_CHECK(contains(history, "experts"));
  CAF_CHECK(!contains(history, "nodes"));
  // End of input leaves as well, and the history grows across sessions.
  auto again = shell({address()}, "nodes\n");
  CAF_CHECK_EQUAL(again.exit_code, 0);
  CAF_CHECK(contains(again.out, "this node: shell-test"));
  CAF_CHECK(contains(slurp(dir / ".dmoe_shell_history"), "nodes"));
}

CAF_TEST(an unreachable node or a bad address gives a clear error and a nonzero exit) {
  auto nobody = "127.0.0.1:" + std::to_string(test::free_port());
  auto r = shell({nobody, "--exec", "experts"});
  CAF_CHECK_EQUAL(r.exit_code, 1);
  CAF_CHECK(contains(r.err, "cannot reach " + nobody));
  CAF_CHECK(r.out.empty());
  auto bad = shell({"no-port-here", "--exec", "experts"});
  CAF_CHECK_NOT_EQUAL(bad.exit_code, 0);
  CAF_CHECK(contains(bad.err, "no-port-here"));
}

CAF_TEST_FIXTURE_SCOPE_END()
