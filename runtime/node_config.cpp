#include "runtime/node_config.hpp"

#include <algorithm>
#include <array>
#include <optional>

#include <caf/config_value.hpp>
#include <caf/io/middleman.hpp>

#include "messages/expert_id.hpp"
#include "messages/expert_pattern.hpp"
#include "messages/type_ids.hpp"
#include "runtime/endpoint.hpp"
#include "runtime/logging.hpp"
#include "runtime/tls.hpp"

namespace dmoe {

namespace {

caf::error config_error(std::string text) {
  return make_error(errc::invalid_argument, "config: " + std::move(text));
}

}  // namespace

node_config::node_config() {
  load<caf::io::middleman>();
  register_types(*this);
  // Every dmoe process, tools included, sends heartbeats: a node drops a connection it has not
  // heard from within its connection-timeout, so a quiet client (a shell left idle, a test
  // between two calls) would otherwise lose its next request without any error. The timeout
  // also turns a frozen peer into a down message. Config files may change both.
  set("middleman.heartbeat-interval", caf::timespan{default_heartbeat_interval});
  set("middleman.connection-timeout", caf::timespan{default_connection_timeout});
  // Work sharing, not CAF's default work stealing: stealing workers poll for work, which idles
  // a node at ~1.4% of a core (measured) and, with a whole local swarm on two cores, takes time
  // from the experts' compute. Sharing workers sleep on a condition variable (~0.1% idle).
  set("scheduler.policy", caf::atom("sharing"));
  declare_options();
}

caf::error node_config::parse_and_validate(int argc, char** argv) {
  return parse_and_validate(std::vector<std::string>(argv + 1, argv + argc));
}

std::vector<node_config::flag_value> node_config::take_flag_values(std::vector<std::string>& args) const {
  std::vector<flag_value> taken;
  auto is_flag_value = [&](const std::string& arg) -> std::optional<flag_value> {
    auto eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos)
      return std::nullopt;
    auto name = arg.substr(2, eq - 2);
    auto value = arg.substr(eq + 1);
    auto option = custom_options_.qualified_name_lookup(name);
    if (option == nullptr || !option->is_flag() || (value != "true" && value != "false"))
      return std::nullopt;
    return flag_value{option, name, value == "true"};
  };
  auto kept = std::remove_if(args.begin(), args.end(), [&](const std::string& arg) {
    auto flag = is_flag_value(arg);
    if (flag)
      taken.push_back(*flag);
    return flag.has_value();
  });
  args.erase(kept, args.end());
  return taken;
}

caf::error node_config::check_arguments(const std::vector<std::string>& args) const {
  // CAF would parse these too, but its errors name neither the option nor what it expects.
  for (const auto& arg : args) {
    auto eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos)
      continue;
    auto name = arg.substr(2, eq - 2);
    auto value = arg.substr(eq + 1);
    auto option = custom_options_.cli_long_name_lookup(name);
    if (option == nullptr)
      return config_error("unknown option '--" + name + "' (dmoe-node --help lists them)");
    if (!option->parse(value))
      return config_error("bad value '" + value + "' for '" + name + "' (expected "
                          + std::string(option->type_name().data(), option->type_name().size())
                          + ")");
  }
  return caf::none;
}

std::string node_config::help_text() const {
  return "dmoe-node: runs the roles of a dmoe node (DHT, expert server, trainer, inspector).\n"
         "usage: dmoe-node [--config-file=FILE] [--group.key=value ...]\n"
         "  --config-file=FILE   read options from FILE (CAF's INI syntax, strings quoted)\n"
         "  --dump-config        print the effective configuration and exit\n"
         "  --config-reference   print docs/config.md (every option, as Markdown) and exit\n"
         "  --help               print this text and exit\n"
         "Options (a boolean takes =true or =false, or stands alone for true; CAF's own groups,\n"
         "e.g. --middleman.connection-timeout=2s, are accepted too):\n"
         + options_.help_text();
}

caf::error node_config::parse_and_validate(std::vector<std::string> args) {
  for (const auto& arg : args) {
    if (arg == "--help" || arg == "-h" || arg == "-?")
      asked_ = request::help;
    else if (arg == "--config-reference")
      asked_ = request::config_reference;
    if (asked_ != request::run)
      return caf::none;
  }
  // CAF 0.17 takes a boolean on the command line only as a bare flag (which sets it), so a
  // default of true could not be turned off there: `--group.key=true|false` is applied here.
  auto flag_values = take_flag_values(args);
  if (auto err = check_arguments(args))
    return err;
  if (auto err = parse(args))
    return config_error("cannot parse the arguments: " + render(err));
  for (const auto& flag : flag_values) {
    flag.option->store(caf::config_value{flag.value});
    caf::put(content, flag.name, flag.value);
  }
  // CAF drops ill-typed values from `content` while parsing, so check the file's raw settings.
  if (auto file = caf::get_if<std::string>(&content, "config-file")) {
    auto raw = parse_config_file(file->c_str());
    if (!raw)
      return config_error(*file + ": " + render(raw.error()));
    if (auto err = validate_keys(*raw))
      return make_error(errc::invalid_argument, describe(err) + " in " + *file);
  }
  if (auto err = validate_keys(content))
    return err;
  return validate_values();
}

caf::error node_config::validate_keys(const caf::settings& settings) const {
  // CAF drops unknown keys and values of the wrong type without a word; we refuse both.
  auto check = [&](const std::string& category, const std::string& key,
                   const caf::config_value& value) -> caf::error {
    auto option = custom_options_.qualified_name_lookup(category, key);
    auto name = category == "global" ? key : category + "." + key;
    if (option == nullptr)
      return config_error("unknown key '" + name + "'");
    if (auto err = option->check(value))
      return config_error("bad value " + caf::to_string(value) + " for '" + name + "' (expected "
                          + std::string(option->type_name().data(), option->type_name().size())
                          + ")");
    return caf::none;
  };
  for (const auto& [group, value] : settings) {
    if (auto dict = caf::get_if<caf::config_value::dictionary>(&value)) {
      for (const auto& [key, inner] : *dict) {
        if (caf::holds_alternative<caf::config_value::dictionary>(inner)) {
          // Nested groups, e.g. middleman sub-sections: check their keys under "group.sub".
          for (const auto& [sub_key, sub_value] : caf::get<caf::config_value::dictionary>(inner))
            if (auto err = check(group + "." + key, sub_key, sub_value))
              return err;
        } else if (auto err = check(group, key, inner)) {
          return err;
        }
      }
    } else if (auto err = check("global", group, value)) {
      return err;
    }
  }
  return caf::none;
}

caf::error node_config::validate_values() const {
  if (auto err = options_.check())
    return err;
  auto has_role = [&](const char* role) {
    return std::find(node.roles.begin(), node.roles.end(), role) != node.roles.end();
  };
  for (const char* role : {"server", "trainer"})
    if (has_role(role) && !has_role("dht"))
      return config_error(std::string{"role '"} + role
                          + "' needs the 'dht' role on the same node (experts are declared and "
                            "found through it)");
  if (node.name.empty())
    return config_error("'node.name' must not be empty");
  // Port 1 stands in for a port picked at start: only the hosts are checked here.
  if (auto ep = advertised_endpoint(node.host, node.advertise, node.port == 0 ? 1 : node.port); !ep)
    return config_error(message_of(ep.error()));
  if (limits.part_bytes > limits.max_message_bytes)
    return config_error("'limits.part-bytes' must not exceed 'limits.max-message-bytes'");
  // A frame must hold a part and its message's envelope (atoms, ids: well under 4 KiB).
  if (limits.max_frame_bytes < limits.part_bytes + 4096)
    return config_error("'limits.max-frame-bytes' must be at least 'limits.part-bytes' + 4096");
  if (limits.max_connections_per_address > limits.max_connections)
    return config_error("'limits.max-connections-per-address' must not exceed "
                        "'limits.max-connections'");
  if (limits.max_unsent_bytes < limits.max_frame_bytes)
    return config_error("'limits.max-unsent-bytes' must be at least 'limits.max-frame-bytes'");
  if (dht.max_key_bytes > limits.max_frame_bytes / 2)
    return config_error("'dht.max-key-bytes' must not exceed half of 'limits.max-frame-bytes' "
                        "(a lookup's answer carries a key's items and must fit in a frame)");
  if (dht.max_peer_stored_mb > dht.max_stored_mb)
    return config_error("'dht.max-peer-stored-mb' must not exceed 'dht.max-stored-mb'");
  if (limits.max_pending_frame_bytes < limits.max_frame_bytes)
    return config_error("'limits.max-pending-frame-bytes' must be at least "
                        "'limits.max-frame-bytes'");
  for (const auto& peer : dht.bootstrap)
    if (auto ep = parse_endpoint(peer); !ep)
      return config_error("bad peer in 'dht.bootstrap': " + describe(ep.error()));
  if (dht.alpha > dht.k)
    return config_error("'dht.alpha' must not exceed 'dht.k'");
  if (auto err = validate_server_values())
    return err;
  if (averaging.min_group > averaging.group_size)
    return config_error("'averaging.min-group' must not exceed 'averaging.group-size'");
  if (averaging.run.empty() || averaging.run.size() > 64
      || averaging.run.find_first_of(" #.") != std::string::npos)
    return config_error("'averaging.run' needs 1..64 characters, none of them ' ', '#' or '.'");
  if (auto err = validate_moe_values())
    return err;
  if (trainer.task == task_kind::language_model
      && trainer.hidden % static_cast<int64_t>(trainer.heads) != 0)
    return config_error("'trainer.hidden' (" + std::to_string(trainer.hidden)
                        + ") must be a multiple of 'trainer.heads' ("
                        + std::to_string(trainer.heads) + ")");
  if (tls.enabled())  // the files are read once here, so a bad one stops the node at start
    if (auto context = tls_context::load(tls); !context)
      return config_error(message_of(context.error()));
  return caf::none;
}

caf::error node_config::validate_server_values() const {
  const auto& s = server;
  auto ids = expand_expert_pattern(s.expert_pattern);
  if (!ids)
    return config_error("bad value for 'server.expert-pattern': " + describe(ids.error()));
  if (s.num_experts > ids->size())
    return config_error("'server.num-experts' (" + std::to_string(s.num_experts)
                        + ") exceeds the " + std::to_string(ids->size())
                        + " ids of 'server.expert-pattern'");
  if (auto hosted = s.num_experts > 0 ? s.num_experts : ids->size(); hosted > s.max_experts)
    return config_error("'server.expert-pattern' (" + s.expert_pattern + ") names "
                        + std::to_string(hosted) + " experts, more than 'server.max-experts' ("
                        + std::to_string(s.max_experts) + "); host fewer with "
                        "'server.num-experts' or raise the ceiling");
  if (s.declare_ttl <= s.declare_period)
    return config_error("'server.declare-period' must be below 'server.declare-ttl'");
  if (s.declare_ttl > dht.max_owned_ttl)
    return config_error("'server.declare-ttl' must not exceed 'dht.max-owned-ttl' (DHT nodes "
                        "refuse declarations that would outlive their server longer)");
  if (s.peer_request_rate > 0 && s.peer_request_burst < 1)
    return config_error("'server.peer-request-burst' must be >= 1 when 'server.peer-request-rate' is on");
  if (s.peer_update_rate > 0 && s.peer_update_burst < static_cast<double>(s.max_batch_size))
    return config_error("'server.peer-update-burst' must be >= 'server.max-batch-size' when "
                        "'server.peer-update-rate' is on (else a full call could never pass)");
  if (s.outlier_factor > 0 && s.outlier_factor < 1)
    return config_error("'server.outlier-factor' must be 0 (off) or in 1..1e6");
  return caf::none;
}

caf::error node_config::validate_moe_values() const {
  const auto& m = moe;
  auto last_layer = trainer.moe_layers - 1;
  if (!is_valid_expert_id(layer_prefix(m.expert_prefix, last_layer) + ".0"))
    return config_error("bad value '" + m.expert_prefix
                        + "' for 'moe.expert-prefix' (expected a grid name like ffn)");
  if (m.grid.empty() || m.grid.size() > 8)
    return config_error("'moe.grid' needs 1..8 dimensions");
  for (auto d : m.grid)
    if (d <= 0 || d > 1000000)
      return config_error("'moe.grid' dimensions must be in 1..1000000");
  if (m.k_min > m.k_best)
    return config_error("'moe.k-min' must be in 1..'moe.k-best'");
  if (m.backward_k_min > m.k_best)
    return config_error("'moe.backward-k-min' must be in 1..'moe.k-best'");
  return caf::none;
}

}  // namespace dmoe
