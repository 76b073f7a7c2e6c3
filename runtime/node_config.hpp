// dmoe's actor_system_config: every option a node has (declared in
// runtime/option_declarations.cpp), read from a config file (--config-file=FILE, CAF's INI
// syntax, strings quoted) and overridable on the command line (--group.key=value). Unlike
// plain CAF, an unknown key, an ill-typed value or one out of bounds is an error that names the
// key, so a typo never silently falls back to a default.
#pragma once

#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>

#include "runtime/option_table.hpp"
#include "runtime/options.hpp"

namespace dmoe {

constexpr auto default_heartbeat_interval = std::chrono::milliseconds(200);
constexpr auto default_connection_timeout = std::chrono::seconds(2);

class node_config : public caf::actor_system_config {
public:
  node_config();
  node_config(const node_config&) = delete;  // the option table points into this object
  node_config(node_config&&) = delete;

  node_options node;
  limit_options limits;
  dht_options dht;
  server_options server;
  moe_options moe;
  trainer_options trainer;
  averaging_options averaging;
  inspector_options inspector;
  tls_options tls;

  /// Parses arguments and the config file, then validates every key and value. An error
  /// names the offending key. `--help` and `--config-reference` parse nothing: `asked()` says
  /// which text the caller should print (`help_text()`, `config_reference()`) before it exits.
  caf::error parse_and_validate(int argc, char** argv);
  caf::error parse_and_validate(std::vector<std::string> args);

  enum class request { run, help, config_reference };
  request asked() const {
    return asked_;
  }

  /// `dmoe-node --help`: the flags, then every option with its type, default and bounds.
  std::string help_text() const;
  /// docs/config.md, generated from the declarations.
  std::string config_reference() const {
    return options_.markdown();
  }
  const std::vector<option_doc>& declared_options() const {
    return options_.docs();
  }

  /// Checks every value against its declared bounds, then the rules that tie options together.
  caf::error validate_values() const;

private:
  struct flag_value {
    const caf::config_option* option;
    std::string name;  // group.key
    bool value;
  };
  /// Removes `--group.key=true|false` of boolean options from `args` and returns them.
  std::vector<flag_value> take_flag_values(std::vector<std::string>& args) const;
  /// The first `--group.key=value` naming no option or holding an ill-typed value.
  caf::error check_arguments(const std::vector<std::string>& args) const;
  void declare_options();
  void declare_server_options();
  void declare_trainer_options();
  caf::error validate_server_values() const;
  caf::error validate_moe_values() const;
  caf::error validate_keys(const caf::settings& settings) const;

  option_table options_{custom_options_};
  request asked_ = request::run;
};

}  // namespace dmoe
