// dmoe-node: runs the roles named in a config file (configs/*.ini) in one process.
//   dmoe-node --config-file=configs/server.ini [--node.port=4110] [--server.hidden=512] ...
// Stops cleanly on SIGINT or SIGTERM (declarations stop, checkpoints are written); a node with
// the trainer role also stops once training has ended, with exit code 1 if it failed. If the
// gateway or a role actor stops by itself, the node logs why and exits with code 3 (a node that
// can no longer answer should not stay up: a service manager restarts it).
#include <csignal>
#include <cstdio>

#include <caf/actor_system.hpp>

#include "apps/node/roles.hpp"
#include "runtime/logging.hpp"
#include "runtime/node_config.hpp"

namespace {

/// Raised by the trainer role when training has ended; waited for like a stop signal.
constexpr int trainer_done_signal = SIGUSR1;
/// Raised by the roles' watchdog when a role actor stopped by itself.
constexpr int role_failed_signal = SIGUSR2;
constexpr int role_failed_exit_code = 3;

/// Blocks the stop signals in every thread (CAF's included) and waits for one here.
int wait_for_stop_signal(const sigset_t& signals) {
  int received = 0;
  sigwait(&signals, &received);
  return received;
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case role_failed_signal:
      return "a failed role";
    default:
      return "the trainer's end";
  }
}

}  // namespace

int main(int argc, char** argv) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, trainer_done_signal);
  sigaddset(&signals, role_failed_signal);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  dmoe::node_config cfg;
  if (auto err = cfg.parse_and_validate(argc, argv)) {
    std::fprintf(stderr, "dmoe-node: %s\n", dmoe::describe(err).c_str());
    return 2;
  }
  if (cfg.asked() != dmoe::node_config::request::run) {
    auto text = cfg.asked() == dmoe::node_config::request::help ? cfg.help_text()
                                                                 : cfg.config_reference();
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  dmoe::log::setup(cfg.node.log_level, cfg.node.log_file,
                   {size_t{cfg.node.log_file_mb} << 20, cfg.node.log_files});
  auto log = dmoe::log::get(cfg.node.name + "/main");
  if (cfg.node.roles.empty()) {
    log->error("no roles configured: set node.roles, e.g. roles=[\"dht\"]");
    return 2;
  }
  caf::actor_system system{cfg};
  dmoe::node_roles roles{system, cfg, [] { kill(getpid(), trainer_done_signal); },
                         [](const std::string&) { kill(getpid(), role_failed_signal); }};
  if (auto err = roles.start()) {
    log->error("cannot start: {}", dmoe::describe(err));
    roles.stop();
    return 1;
  }
  auto sig = wait_for_stop_signal(signals);
  log->info("stopping on {}", signal_name(sig));
  roles.stop();
  if (sig == role_failed_signal)
    return role_failed_exit_code;
  return roles.trainer_succeeded() ? 0 : 1;
}
