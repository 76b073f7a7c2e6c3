// What dmoe's command-line tools (dmoe-shell, dmoe-dht, dmoe-bench) share with a node: a node
// config file (its [tls] group and limits apply) and the [tls] settings as flags, so a tool
// reaches a swarm that admits only its members.
//   dmoe-shell --config-file=configs/my-node.ini 203.0.113.7:4100
//   dmoe-shell --tls.ca=ca.pem --tls.certificate=me.pem --tls.key=me.key 203.0.113.7:4100
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>

#include "runtime/node_config.hpp"
#include "runtime/wire_guard.hpp"

namespace dmoe {

struct tool_config_flags {
  std::string config_file;
  tls_options tls;

  void add_to(CLI::App& app) {
    app.add_option("--config-file", config_file, "a node config file (its [tls] group is used)")
      ->check(CLI::ExistingFile);
    app.add_option("--tls.ca", tls.ca, "the swarm CA's certificate (PEM)")->check(CLI::ExistingFile);
    app.add_option("--tls.certificate", tls.certificate, "this tool's member certificate (PEM)")
      ->check(CLI::ExistingFile);
    app.add_option("--tls.key", tls.key, "its private key (PEM)")->check(CLI::ExistingFile);
  }

  /// Fills `cfg` from the config file, then the flags over it.
  caf::error parse(node_config& cfg) const {
    std::vector<std::string> args;
    if (!config_file.empty())
      args.push_back("--config-file=" + config_file);
    if (auto err = cfg.parse_and_validate(args))
      return err;
    for (auto [flag, value] : {std::pair{&tls.ca, &cfg.tls.ca},
                               std::pair{&tls.certificate, &cfg.tls.certificate},
                               std::pair{&tls.key, &cfg.tls.key}})
      if (!flag->empty())
        *value = *flag;
    return caf::none;
  }

  /// The wire guard's options for `system`, TLS included: an error names a file that is bad.
  static caf::error apply(caf::actor_system& system, const node_config& cfg,
                          const std::string& log_name) {
    wire_guard_options guard;
    guard.log_name = log_name;
    guard.max_frame_bytes = cfg.limits.max_frame_bytes;
    return set_wire_guard_options(system, guard, cfg.tls);
  }
};

}  // namespace dmoe
