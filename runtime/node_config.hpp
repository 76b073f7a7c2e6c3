// dmoe's actor_system_config: every option a node has, read from a config file
// (--config-file=FILE, CAF's INI syntax, strings quoted) and overridable on the command line
// (--group.key=value). Unlike plain CAF, an unknown key or an ill-typed value is an error that
// names the key, so a typo never silently falls back to a default.
#pragma once

#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>

#include "runtime/options.hpp"

namespace dmoe {

constexpr auto default_heartbeat_interval = std::chrono::milliseconds(200);
constexpr auto default_connection_timeout = std::chrono::seconds(2);

class node_config : public caf::actor_system_config {
public:
  node_config();

  node_options node;
  limit_options limits;
  dht_options dht;
  server_options server;
  moe_options moe;
  trainer_options trainer;
  inspector_options inspector;
  tls_options tls;

  /// Parses arguments and the config file, then validates every key and value.
  /// An error names the offending key; `help_printed()` tells the caller to exit 0.
  caf::error parse_and_validate(int argc, char** argv);
  caf::error parse_and_validate(std::vector<std::string> args);

  bool help_printed() const {
    return cli_helptext_printed;
  }

  /// Checks values whose valid range the type alone does not give (roles, levels, sizes).
  caf::error validate_values() const;

private:
  struct flag_value {
    const caf::config_option* option;
    std::string name;  // group.key
    bool value;
  };
  /// Removes `--group.key=true|false` of boolean options from `args` and returns them.
  std::vector<flag_value> take_flag_values(std::vector<std::string>& args) const;
  caf::error validate_server_values() const;
  caf::error validate_moe_values() const;
  caf::error validate_trainer_values() const;
  caf::error validate_keys(const caf::settings& settings) const;
};

}  // namespace dmoe
