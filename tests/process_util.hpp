// Helpers for tests that run real dmoe processes on loopback: free ports, spawning with the
// output in a log file, bounded waits for exit and for a listening port, connecting to a node.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>

#include "actors/inspector/inspector.hpp"

extern char** environ;

namespace dmoe::test {

inline uint16_t free_port() {
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

/// Every process launch() started, so that a failing CAF_REQUIRE (which aborts the test
/// process before any destructor runs) does not leave nodes running: the SIGABRT handler kills
/// them. Fixed-size and lock-free, as a signal handler needs.
inline std::array<std::atomic<pid_t>, 256>& launched_pids() {
  static std::array<std::atomic<pid_t>, 256> pids{};
  return pids;
}

/// Further clean-ups a SIGABRT runs after killing the launched processes (async-signal-safe
/// functions only, e.g. tests/hosts/netns_lab.hpp removing its namespaces).
inline std::array<std::atomic<void (*)()>, 8>& abort_hooks() {
  static std::array<std::atomic<void (*)()>, 8> hooks{};
  return hooks;
}

inline void kill_launched_and_abort(int sig) {
  for (auto& pid : launched_pids())
    if (pid_t p = pid.load(); p > 0)
      kill(p, SIGKILL);
  for (auto& hook : abort_hooks())
    if (auto* f = hook.load())
      f();
  signal(sig, SIG_DFL);
  raise(sig);
}

inline void on_abort(void (*hook)()) {
  signal(SIGABRT, kill_launched_and_abort);
  for (auto& slot : abort_hooks()) {
    void (*empty)() = nullptr;
    if (slot.compare_exchange_strong(empty, hook))
      return;
  }
}

inline void track_launched(pid_t pid) {
  static const bool handler_installed = [] {
    signal(SIGABRT, kill_launched_and_abort);
    return true;
  }();
  (void) handler_installed;
  for (auto& slot : launched_pids()) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, pid))
      return;
  }
}

/// Starts args[0] with stdout and stderr going to `log_path`; pid -1 when it cannot start.
inline process launch(const std::vector<std::string>& args, const std::string& log_path) {
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
  else
    track_launched(p.pid);
  posix_spawn_file_actions_destroy(&files);
  return p;
}

/// Polls `condition` every `interval` until it holds (true) or `limit` has passed (false).
template <class Condition>
bool poll_until(Condition condition, std::chrono::milliseconds limit,
                std::chrono::milliseconds interval = std::chrono::milliseconds(50)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition())
      return true;
    std::this_thread::sleep_for(interval);
  }
  return false;
}

/// Waits up to `limit` for `pid` to exit; returns its exit status (128 + signal when killed),
/// or -1 when it did not exit in time.
inline int wait_exit(pid_t pid, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      for (auto& slot : launched_pids()) {
        pid_t reaped = pid;
        slot.compare_exchange_strong(reaped, 0);
      }
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

/// Ends `pid` with SIGKILL and reaps it, if it is a process launch() started and nobody reaped
/// yet (a pid wait_exit() reaped may already belong to another process: left alone).
inline void kill_launched(pid_t pid) {
  for (auto& slot : launched_pids()) {
    pid_t tracked = pid;
    if (pid > 0 && slot.compare_exchange_strong(tracked, 0)) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return;
    }
  }
}

/// For fixtures' destructors: kill_launched on every process of `procs`.
template <class Processes>
void kill_all_launched(const Processes& procs) {
  for (const auto& p : procs)
    kill_launched(p.pid);
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
inline bool wait_listening(uint16_t port, std::chrono::seconds limit) {
  return poll_until(
    [port] {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(port);
      bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
      close(fd);
      return ok;
    },
    limit);
}

/// How often `what` occurs in `text` (e.g. a message in a node's log).
inline size_t count_occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

/// The actor a dmoe node publishes at host:port, through the middleman's own connect, as any
/// CAF peer reaches it, as an untyped handle (tests send it what they like). A node publishes
/// its gateway typed, and CAF hands out only a handle whose protocol the published one
/// includes: any part will do, the inspector's is one with no dmoe types in it.
inline caf::expected<caf::actor> remote_node(caf::actor_system& system, const std::string& host,
                                             uint16_t port) {
  auto handle = system.middleman().remote_actor<inspector_actor>(host, port);
  if (!handle)
    return handle.error();
  return caf::actor_cast<caf::actor>(std::move(*handle));
}

/// The actor a node publishes on 127.0.0.1:`port`, retrying until `limit`; null on failure.
inline caf::actor connect_node(caf::actor_system& system, uint16_t port,
                               std::chrono::seconds limit = std::chrono::seconds(20)) {
  caf::actor node;
  poll_until(
    [&] {
      auto handle = remote_node(system, "127.0.0.1", port);
      if (handle)
        node = *handle;
      return static_cast<bool>(node);
    },
    limit, std::chrono::milliseconds(100));
  return node;
}

/// VmRSS of process `pid`, in bytes (0 when it is gone).
inline size_t rss_bytes(pid_t pid) {
  std::ifstream status{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoull(line.substr(6)) * 1024;
  return 0;
}

/// A small text of 120 chapters of four verses in `dir`/text.txt (a trainer splits off its
/// validation and test chapters); returns its path.
inline std::string write_verses_text(const std::string& dir) {
  std::string text;
  const char* verses[] = {"In the beginning God created the heaven and the earth.",
                          "And the earth was without form, and void.",
                          "And God said, Let there be light: and there was light.",
                          "And God saw the light, that it was good."};
  for (int chapter = 0; chapter < 120; ++chapter) {
    for (int v = 0; v < 4; ++v)
      text += verses[(chapter + v) % 4] + std::string{"\n"};
    text += "\n";
  }
  auto path = dir + "/text.txt";
  std::ofstream{path} << text;
  return path;
}

/// A fresh directory under /tmp named after `what`.
inline std::string temp_dir(const std::string& what) {
  std::string tmpl = "/tmp/dmoe-" + what + "-XXXXXX";
  return mkdtemp(tmpl.data());
}

}  // namespace dmoe::test
