// dmoe-node: runs the roles named in a config file (configs/*.ini) in one process.
//   dmoe-node --config-file=configs/dht-bootstrap.ini [--node.port=4100] [--dht.k=20] ...
// Stops cleanly on SIGINT or SIGTERM.
#include <csignal>
#include <cstdio>

#include <caf/actor_system.hpp>

#include "apps/node/roles.hpp"
#include "runtime/logging.hpp"
#include "runtime/node_config.hpp"

namespace {

/// Blocks SIGINT/SIGTERM in every thread (CAF's included) and waits for one here.
int wait_for_stop_signal(const sigset_t& signals) {
  int received = 0;
  sigwait(&signals, &received);
  return received;
}

}  // namespace

int main(int argc, char** argv) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  dmoe::node_config cfg;
  if (auto err = cfg.parse_and_validate(argc, argv)) {
    std::fprintf(stderr, "dmoe-node: %s\n", dmoe::describe(err).c_str());
    return 2;
  }
  if (cfg.help_printed())
    return 0;
  dmoe::log::setup(cfg.node.log_level, cfg.node.log_file);
  auto log = dmoe::log::get(cfg.node.name + "/main");
  if (cfg.node.roles.empty()) {
    log->error("no roles configured: set node.roles, e.g. roles=[\"dht\"]");
    return 2;
  }
  caf::actor_system system{cfg};
  dmoe::node_roles roles{system, cfg};
  if (auto err = roles.start()) {
    log->error("cannot start: {}", dmoe::describe(err));
    roles.stop();
    return 1;
  }
  auto sig = wait_for_stop_signal(signals);
  log->info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  roles.stop();
  return 0;
}
