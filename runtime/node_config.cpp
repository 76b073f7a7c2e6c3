#include "runtime/node_config.hpp"

#include <algorithm>
#include <array>

#include <caf/config_option_adder.hpp>
#include <caf/config_value.hpp>
#include <caf/io/middleman.hpp>

#include "messages/type_ids.hpp"
#include "runtime/endpoint.hpp"
#include "runtime/logging.hpp"

namespace dmoe {

namespace {

constexpr std::array<const char*, 4> known_roles{"dht", "server", "trainer", "inspector"};

caf::error config_error(std::string text) {
  return make_error(errc::invalid_argument, "config: " + std::move(text));
}

}  // namespace

node_config::node_config() {
  load<caf::io::middleman>();
  register_types(*this);
  caf::config_option_adder{custom_options_, "node"}
    .add(node.name, "name", "name of this node, shown in logs and by dmoe-shell")
    .add(node.roles, "roles", "roles to run: any of dht, server, trainer, inspector")
    .add(node.host, "host", "address to listen on (loopback by default)")
    .add(node.port, "port", "TCP port to listen on, 0 picks a free one")
    .add(node.log_level, "log-level", "trace, debug, info, warn, error, critical or off")
    .add(node.log_file, "log-file", "also write logs to this file");
  caf::config_option_adder{custom_options_, "limits"}
    .add(limits.max_message_bytes, "max-message-bytes", "largest accepted message")
    .add(limits.max_tensor_bytes, "max-tensor-bytes", "largest accepted tensor")
    .add(limits.max_tensor_rank, "max-tensor-rank", "most dimensions of a tensor")
    .add(limits.max_tensors_per_call, "max-tensors-per-call", "most tensors in one call")
    .add(limits.nan_policy, "nan-policy", "reject or allow NaN/inf in received tensors");
  caf::config_option_adder{custom_options_, "dht"}
    .add(dht.bootstrap, "bootstrap", "known peers as \"host:port\" strings")
    .add(dht.k, "k", "bucket size and replication factor")
    .add(dht.alpha, "alpha", "parallel requests per lookup step")
    .add(dht.request_timeout, "request-timeout", "deadline of one DHT request")
    .add(dht.max_failures, "max-failures", "failed requests before a contact is dropped")
    .add(dht.refresh_interval, "refresh-interval", "refresh buckets idle for this long")
    .add(dht.replication_interval, "replication-interval", "republish stored items this often")
    .add(dht.max_ttl, "max-ttl", "latest acceptable expiration, from now")
    .add(dht.max_value_bytes, "max-value-bytes", "largest value one item may hold")
    .add(dht.max_entries, "max-entries", "most items this node stores")
    .add(dht.max_subkeys, "max-subkeys", "most sub-keys under one key");
}

caf::error node_config::parse_and_validate(int argc, char** argv) {
  return parse_and_validate(std::vector<std::string>(argv + 1, argv + argc));
}

caf::error node_config::parse_and_validate(std::vector<std::string> args) {
  if (auto err = parse(std::move(args)))
    return config_error(render(err));
  if (cli_helptext_printed)
    return caf::none;
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
  for (const auto& role : node.roles)
    if (std::find(known_roles.begin(), known_roles.end(), role) == known_roles.end())
      return config_error("unknown role '" + role
                          + "' in 'node.roles' (expected dht, server, trainer or inspector)");
  if (!log::parse_level(node.log_level))
    return config_error("bad value '" + node.log_level + "' for 'node.log-level'");
  if (node.name.empty())
    return config_error("'node.name' must not be empty");
  if (limits.nan_policy != "reject" && limits.nan_policy != "allow")
    return config_error("bad value '" + limits.nan_policy
                        + "' for 'limits.nan-policy' (expected reject or allow)");
  if (limits.max_message_bytes < 1024)
    return config_error("'limits.max-message-bytes' must be at least 1024");
  if (limits.max_tensor_rank == 0 || limits.max_tensors_per_call == 0)
    return config_error("'limits.max-tensor-rank' and 'limits.max-tensors-per-call' must be > 0");
  for (const auto& peer : dht.bootstrap)
    if (auto ep = parse_endpoint(peer); !ep)
      return config_error("bad peer in 'dht.bootstrap': " + describe(ep.error()));
  if (dht.k == 0 || dht.k > 1000)
    return config_error("'dht.k' must be in 1..1000");
  if (dht.alpha == 0 || dht.alpha > dht.k)
    return config_error("'dht.alpha' must be in 1..dht.k");
  if (dht.max_failures == 0)
    return config_error("'dht.max-failures' must be > 0");
  using caf::timespan;
  for (auto [value, name] : {std::pair{dht.request_timeout, "dht.request-timeout"},
                             std::pair{dht.refresh_interval, "dht.refresh-interval"},
                             std::pair{dht.replication_interval, "dht.replication-interval"},
                             std::pair{dht.max_ttl, "dht.max-ttl"}})
    if (value <= timespan{0})
      return config_error(std::string("'") + name + "' must be positive");
  if (dht.max_value_bytes == 0 || dht.max_value_bytes > dht::default_max_value_bytes * 16)
    return config_error("'dht.max-value-bytes' must be in 1.."
                        + std::to_string(dht::default_max_value_bytes * 16));
  if (dht.max_entries == 0 || dht.max_subkeys == 0)
    return config_error("'dht.max-entries' and 'dht.max-subkeys' must be > 0");
  return caf::none;
}

}  // namespace dmoe
