#include "runtime/node_config.hpp"

#include <algorithm>
#include <array>
#include <optional>

#include <caf/config_option_adder.hpp>
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

constexpr std::array<const char*, 4> known_roles{"dht", "server", "trainer", "inspector"};

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
  caf::config_option_adder{custom_options_, "node"}
    .add(node.name, "name", "name of this node, shown in logs and by dmoe-shell")
    .add(node.roles, "roles", "roles to run: any of dht, server, trainer, inspector")
    .add(node.host, "host", "address to listen on (loopback by default; 0.0.0.0: all)")
    .add(node.port, "port", "TCP port to listen on, 0 picks a free one")
    .add(node.advertise, "advertise", "\"host\" or \"host:port\" peers dial (default: host:port)")
    .add(node.check_advertise, "check-advertise",
         "at start, dial the advertised address and expect to reach this node")
    .add(node.log_level, "log-level", "trace, debug, info, warn, error, critical or off")
    .add(node.log_file, "log-file", "also write logs to this file");
  caf::config_option_adder{custom_options_, "limits"}
    .add(limits.max_message_bytes, "max-message-bytes", "largest accepted message")
    .add(limits.max_tensor_bytes, "max-tensor-bytes", "largest accepted tensor")
    .add(limits.max_tensor_rank, "max-tensor-rank", "most dimensions of a tensor")
    .add(limits.max_tensors_per_call, "max-tensors-per-call", "most tensors in one call")
    .add(limits.nan_policy, "nan-policy", "reject or allow NaN/inf in received tensors")
    .add(limits.part_bytes, "part-bytes",
         "larger expert calls cross nodes in parts of this size (each must arrive within "
         "middleman.connection-timeout)")
    .add(limits.max_frame_bytes, "max-frame-bytes",
         "a peer sending a larger CAF message is disconnected before it is read");
  caf::config_option_adder{custom_options_, "dht"}
    .add(dht.bootstrap, "bootstrap", "known peers as \"host:port\" strings")
    .add(dht.k, "k", "bucket size and replication factor")
    .add(dht.alpha, "alpha", "parallel requests per lookup step")
    .add(dht.request_timeout, "request-timeout", "deadline of one DHT request")
    .add(dht.max_failures, "max-failures", "failed requests before a contact is dropped")
    .add(dht.refresh_interval, "refresh-interval", "refresh buckets idle for this long")
    .add(dht.replication_interval, "replication-interval", "republish stored items this often")
    .add(dht.max_ttl, "max-ttl", "latest acceptable expiration, from now")
    .add(dht.max_owned_ttl, "max-owned-ttl",
         "latest acceptable expiration of an owned item (a declaration), from now")
    .add(dht.max_value_bytes, "max-value-bytes", "largest value one item may hold")
    .add(dht.max_entries, "max-entries", "most items this node stores")
    .add(dht.max_subkeys, "max-subkeys", "most sub-keys under one key");
  caf::config_option_adder{custom_options_, "server"}
    .add(server.expert_type, "expert-type", "registry name of the hosted experts, e.g. ffn")
    .add(server.expert_pattern, "expert-pattern", "grid cells to host, e.g. \"ffn.[0:4].[0:4]\"")
    .add(server.num_experts, "num-experts", "host this many cells of the pattern (0: all)")
    .add(server.hidden, "hidden", "hidden size of the experts")
    .add(server.optimizer, "optimizer", "adam or sgd")
    .add(server.learning_rate, "learning-rate", "the experts' learning rate")
    .add(server.momentum, "momentum", "momentum of sgd")
    .add(server.weight_decay, "weight-decay", "L2 weight decay")
    .add(server.clip_grad_norm, "clip-grad-norm", "clip each expert's gradient norm (0: off)")
    .add(server.warmup_updates, "warmup-updates",
         "each expert's learning rate rises linearly over its first updates (0: none)")
    .add(server.accumulate_samples, "accumulate-samples",
         "an expert's update sums the gradients of at least this many samples (0: each batch)")
    .add(server.max_batch_size, "max-batch-size", "most samples merged into one batch")
    .add(server.max_tokens, "max-tokens",
         "longest sequence (a free dimension, e.g. a transformer's tokens) one call may carry")
    .add(server.max_batch_wait, "max-batch-wait", "longest wait for a batch to fill")
    .add(server.adaptive_wait, "adaptive-wait",
         "wait for a batch to fill only while calls come close together (false: always)")
    .add(server.activation_memory_mb, "activation-memory-mb",
         "MiB of forward activations kept for backward calls (0: recompute them)")
    .add(server.activation_ttl, "activation-ttl", "how long kept activations wait for a backward")
    .add(server.compute_threads, "compute-threads", "threads running LibTorch work")
    .add(server.torch_threads, "torch-threads", "LibTorch intra-op threads")
    .add(server.declare_period, "declare-period", "how often experts are declared in the DHT")
    .add(server.declare_ttl, "declare-ttl", "how long a declaration stays valid")
    .add(server.checkpoint_dir, "checkpoint-dir", "where checkpoints go (empty: none)")
    .add(server.checkpoint_period, "checkpoint-period", "how often checkpoints are written")
    .add(server.seed, "seed", "seed for expert init and sampling (0: from the node name)")
    .add(server.compression, "compression", "none or float16: how replies carry float32 tensors")
    .add(server.fail_rate, "fail-rate",
         "fault injection: answer this share of forward/backward calls with an error (0..1)")
    .add(server.peer_request_rate, "peer-request-rate", "requests per second one peer may make (0: any)")
    .add(server.peer_request_burst, "peer-request-burst", "requests one peer may make at once")
    .add(server.peer_max_in_flight, "peer-max-in-flight",
         "calls of one peer queued or computing at once (0: any)")
    .add(server.peer_max_expert_mb, "peer-max-expert-mb",
         "MiB of one peer's requests waiting at one expert (0: any)")
    .add(server.peer_max_queued_mb, "peer-max-queued-mb",
         "MiB of one peer's requests waiting at this server (0: any)")
    .add(server.max_queued_mb, "max-queued-mb", "MiB of requests waiting at this server (0: any)")
    .add(server.peer_update_rate, "peer-update-rate",
         "backward samples per second one peer may send one expert (0: any)")
    .add(server.peer_update_burst, "peer-update-burst",
         "backward samples one peer may send one expert at once")
    .add(server.outlier_factor, "outlier-factor",
         "refuse an update whose gradient norm per sample exceeds this many times the largest "
         "of the last 101 accepted (0: off)");
  caf::config_option_adder{custom_options_, "moe"}
    .add(moe.expert_prefix, "expert-prefix", "grid name the DMoE layer routes to")
    .add(moe.grid, "grid", "grid dimensions, e.g. [4, 4]")
    .add(moe.k_best, "k-best", "experts asked per sample")
    .add(moe.k_min, "k-min", "fewest answers a forward pass accepts")
    .add(moe.forward_timeout, "forward-timeout", "deadline of a forward call")
    .add(moe.timeout_after_k_min, "timeout-after-k-min", "wait for stragglers after k-min")
    .add(moe.backward_k_min, "backward-k-min", "fewest answers a backward pass accepts")
    .add(moe.backward_timeout, "backward-timeout", "deadline of a backward call")
    .add(moe.allow_zero_outputs, "allow-zero-outputs", "below k-min: zeros instead of an error")
    .add(moe.directory_cache, "directory-cache", "reuse DHT prefix lookups this long")
    .add(moe.compression, "compression", "none or float16: how calls carry float32 tensors");
  caf::config_option_adder{custom_options_, "trainer"}
    .add(trainer.data_dir, "data-dir", "folder with the Fashion-MNIST *-ubyte.gz files")
    .add(trainer.hidden, "hidden", "hidden size of the model")
    .add(trainer.moe_layers, "moe-layers", "DMoE layers in the model")
    .add(trainer.model, "model",
         "dmoe, or largeffn: the DMoE layers replaced by local ffn blocks of the grid's size")
    .add(trainer.batch_size, "batch-size", "samples per training step")
    .add(trainer.workers, "workers", "batches in flight at once, each on its own replica")
    .add(trainer.max_staleness, "max-staleness",
         "drop gradients staler than this many updates (0: as many as workers)")
    .add(trainer.stale_rate, "stale-rate",
         "full, or divided: an update's learning rate divided by its staleness")
    .add(trainer.accumulate, "accumulate",
         "gradients (batches) averaged into one update of the local parameters")
    .add(trainer.learning_rate, "learning-rate", "learning rate of the local layers")
    .add(trainer.lr_schedule, "lr-schedule", "cosine (to 10% at the last step) or constant")
    .add(trainer.warmup_steps, "warmup-steps",
         "the learning rate rises linearly over the first steps (0: none)")
    .add(trainer.epochs, "epochs", "passes over the training set (0: until max-steps/max-time)")
    .add(trainer.max_steps, "max-steps", "stop after this many steps (0: no step limit)")
    .add(trainer.max_time, "max-time", "stop after this long")
    .add(trainer.eval_every, "eval-every", "steps between test-set evaluations")
    .add(trainer.eval_samples, "eval-samples", "test images per evaluation (0: all)")
    .add(trainer.metrics_csv, "metrics-csv", "write metrics to this CSV file")
    .add(trainer.checkpoint_dir, "checkpoint-dir",
         "save parameters, optimizer and data position here; resume from them at start")
    .add(trainer.checkpoint_period, "checkpoint-period", "time between trainer checkpoints")
    .add(trainer.progress, "progress", "show a progress bar on stderr")
    .add(trainer.seed, "seed", "seed for init and shuffling (0: from the node name)");
  caf::config_option_adder{custom_options_, "inspector"}
    .add(inspector.allow_control, "allow-control", "let dmoe-shell run control commands");
  caf::config_option_adder{custom_options_, "tls"}
    .add(tls.ca, "ca", "the swarm CA's certificate: only its members may connect (dmoe-keys)")
    .add(tls.certificate, "certificate", "this node's certificate, issued by that CA")
    .add(tls.key, "key", "this node's private key");
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

caf::error node_config::parse_and_validate(std::vector<std::string> args) {
  // CAF 0.17 takes a boolean on the command line only as a bare flag (which sets it), so a
  // default of true could not be turned off there: `--group.key=true|false` is applied here.
  auto flag_values = take_flag_values(args);
  if (auto err = parse(args))
    return config_error("cannot parse the arguments: " + render(err));
  for (const auto& flag : flag_values) {
    flag.option->store(caf::config_value{flag.value});
    caf::put(content, flag.name, flag.value);
  }
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
  auto has_role = [&](const char* role) {
    return std::find(node.roles.begin(), node.roles.end(), role) != node.roles.end();
  };
  for (const char* role : {"server", "trainer"})
    if (has_role(role) && !has_role("dht"))
      return config_error(std::string{"role '"} + role
                          + "' needs the 'dht' role on the same node (experts are declared and "
                            "found through it)");
  if (!log::parse_level(node.log_level))
    return config_error("bad value '" + node.log_level + "' for 'node.log-level'");
  if (node.name.empty())
    return config_error("'node.name' must not be empty");
  // Port 1 stands in for a port picked at start: only the hosts are checked here.
  if (auto ep = advertised_endpoint(node.host, node.advertise, node.port == 0 ? 1 : node.port); !ep)
    return config_error(message_of(ep.error()));
  if (limits.nan_policy != "reject" && limits.nan_policy != "allow")
    return config_error("bad value '" + limits.nan_policy
                        + "' for 'limits.nan-policy' (expected reject or allow)");
  if (limits.max_message_bytes < 1024)
    return config_error("'limits.max-message-bytes' must be at least 1024");
  if (limits.part_bytes < 1024 || limits.part_bytes > limits.max_message_bytes)
    return config_error("'limits.part-bytes' must be in 1024..'limits.max-message-bytes'");
  // A frame must hold a part and its message's envelope (atoms, ids: well under 4 KiB); BASP
  // counts frame lengths in 32 bits.
  if (limits.max_frame_bytes < limits.part_bytes + 4096 || limits.max_frame_bytes > UINT32_MAX)
    return config_error("'limits.max-frame-bytes' must be in 'limits.part-bytes' + 4096..2^32-1");
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
                             std::pair{dht.max_ttl, "dht.max-ttl"},
                             std::pair{dht.max_owned_ttl, "dht.max-owned-ttl"}})
    if (value <= timespan{0})
      return config_error(std::string("'") + name + "' must be positive");
  if (dht.max_value_bytes == 0 || dht.max_value_bytes > dht::default_max_value_bytes * 16)
    return config_error("'dht.max-value-bytes' must be in 1.."
                        + std::to_string(dht::default_max_value_bytes * 16));
  if (dht.max_entries == 0 || dht.max_subkeys == 0)
    return config_error("'dht.max-entries' and 'dht.max-subkeys' must be > 0");
  if (auto err = validate_server_values())
    return err;
  if (auto err = validate_moe_values())
    return err;
  if (auto err = validate_trainer_values())
    return err;
  if (tls.enabled())  // the files are read once here, so a bad one stops the node at start
    if (auto context = tls_context::load(tls); !context)
      return config_error(message_of(context.error()));
  return caf::none;
}

caf::error node_config::validate_server_values() const {
  const auto& s = server;
  if (s.optimizer != "adam" && s.optimizer != "sgd")
    return config_error("bad value '" + s.optimizer + "' for 'server.optimizer' (expected adam or sgd)");
  if (s.hidden <= 0 || s.hidden > 65536)
    return config_error("'server.hidden' must be in 1..65536");
  auto ids = expand_expert_pattern(s.expert_pattern);
  if (!ids)
    return config_error("bad value for 'server.expert-pattern': " + describe(ids.error()));
  if (s.num_experts > ids->size())
    return config_error("'server.num-experts' (" + std::to_string(s.num_experts)
                        + ") exceeds the " + std::to_string(ids->size())
                        + " ids of 'server.expert-pattern'");
  if (!(s.learning_rate > 0))
    return config_error("'server.learning-rate' must be positive");
  if (s.momentum < 0 || s.weight_decay < 0 || s.clip_grad_norm < 0)
    return config_error("'server.momentum', 'server.weight-decay' and 'server.clip-grad-norm' must be >= 0");
  if (s.max_batch_size == 0)
    return config_error("'server.max-batch-size' must be > 0");
  if (s.max_tokens == 0 || s.max_tokens > max_tokens_limit)
    return config_error("'server.max-tokens' must be in 1.." + std::to_string(max_tokens_limit));
  if (s.accumulate_samples > max_accumulate_samples)
    return config_error("'server.accumulate-samples' must be in 0.."
                        + std::to_string(max_accumulate_samples));
  if (s.compute_threads == 0 || s.compute_threads > 64 || s.torch_threads == 0 || s.torch_threads > 64)
    return config_error("'server.compute-threads' and 'server.torch-threads' must be in 1..64");
  if (s.activation_memory_mb > max_activation_memory_mb)
    return config_error("'server.activation-memory-mb' must be in 0.."
                        + std::to_string(max_activation_memory_mb));
  if (s.activation_ttl <= caf::timespan{0})
    return config_error("'server.activation-ttl' must be positive");
  if (s.max_batch_wait < caf::timespan{0})
    return config_error("'server.max-batch-wait' must not be negative");
  if (s.declare_period <= caf::timespan{0} || s.declare_ttl <= s.declare_period)
    return config_error("'server.declare-period' must be positive and below 'server.declare-ttl'");
  if (s.declare_ttl > dht.max_owned_ttl)
    return config_error("'server.declare-ttl' must not exceed 'dht.max-owned-ttl' (DHT nodes "
                        "refuse declarations that would outlive their server longer)");
  if (s.checkpoint_period <= caf::timespan{0})
    return config_error("'server.checkpoint-period' must be positive");
  if (!is_compression_name(s.compression))
    return config_error("bad value '" + s.compression
                        + "' for 'server.compression' (expected none or float16)");
  if (!(s.fail_rate >= 0 && s.fail_rate <= 1))
    return config_error("'server.fail-rate' must be in 0..1");
  for (auto [value, name] : {std::pair{s.peer_request_rate, "peer-request-rate"},
                             std::pair{s.peer_request_burst, "peer-request-burst"},
                             std::pair{s.peer_update_rate, "peer-update-rate"},
                             std::pair{s.peer_update_burst, "peer-update-burst"}})
    if (!(value >= 0 && value <= 1e9))
      return config_error(std::string{"'server."} + name + "' must be in 0..1e9");
  if (s.peer_request_rate > 0 && s.peer_request_burst < 1)
    return config_error("'server.peer-request-burst' must be >= 1 when 'server.peer-request-rate' is on");
  if (s.peer_update_rate > 0 && s.peer_update_burst < static_cast<double>(s.max_batch_size))
    return config_error("'server.peer-update-burst' must be >= 'server.max-batch-size' when "
                        "'server.peer-update-rate' is on (else a full call could never pass)");
  if (s.peer_max_expert_mb > max_queued_mb_limit || s.peer_max_queued_mb > max_queued_mb_limit
      || s.max_queued_mb > max_queued_mb_limit)
    return config_error("'server.peer-max-expert-mb', 'server.peer-max-queued-mb' and "
                        "'server.max-queued-mb' must be in 0.." + std::to_string(max_queued_mb_limit));
  if (!(s.outlier_factor == 0 || (s.outlier_factor >= 1 && s.outlier_factor <= 1e6)))
    return config_error("'server.outlier-factor' must be 0 (off) or in 1..1e6");
  return caf::none;
}

caf::error node_config::validate_moe_values() const {
  const auto& m = moe;
  auto last_layer = std::max<size_t>(trainer.moe_layers, 1) - 1;
  if (!is_valid_expert_id(layer_prefix(m.expert_prefix, last_layer) + ".0"))
    return config_error("bad value '" + m.expert_prefix
                        + "' for 'moe.expert-prefix' (expected a grid name like ffn)");
  if (m.grid.empty() || m.grid.size() > 8)
    return config_error("'moe.grid' needs 1..8 dimensions");
  for (auto d : m.grid)
    if (d <= 0 || d > 1000000)
      return config_error("'moe.grid' dimensions must be in 1..1000000");
  if (m.k_best == 0 || m.k_min == 0 || m.k_min > m.k_best)
    return config_error("'moe.k-min' must be in 1..'moe.k-best'");
  if (m.backward_k_min == 0 || m.backward_k_min > m.k_best)
    return config_error("'moe.backward-k-min' must be in 1..'moe.k-best'");
  for (auto [value, name] : {std::pair{m.forward_timeout, "moe.forward-timeout"},
                             std::pair{m.timeout_after_k_min, "moe.timeout-after-k-min"},
                             std::pair{m.backward_timeout, "moe.backward-timeout"},
                             std::pair{m.directory_cache, "moe.directory-cache"}})
    if (value <= caf::timespan{0})
      return config_error(std::string("'") + name + "' must be positive");
  if (!is_compression_name(m.compression))
    return config_error("bad value '" + m.compression
                        + "' for 'moe.compression' (expected none or float16)");
  return caf::none;
}

caf::error node_config::validate_trainer_values() const {
  const auto& t = trainer;
  if (t.hidden <= 0 || t.hidden > 65536)
    return config_error("'trainer.hidden' must be in 1..65536");
  if (t.batch_size == 0 || t.batch_size > 65536)
    return config_error("'trainer.batch-size' must be in 1..65536");
  if (t.moe_layers == 0 || t.moe_layers > 64)
    return config_error("'trainer.moe-layers' must be in 1..64");
  if (t.model != "dmoe" && t.model != "largeffn")
    return config_error("bad value '" + t.model
                        + "' for 'trainer.model' (expected dmoe or largeffn)");
  if (t.stale_rate != "full" && t.stale_rate != "divided")
    return config_error("bad value '" + t.stale_rate
                        + "' for 'trainer.stale-rate' (expected full or divided)");
  if (t.workers == 0 || t.workers > 256)
    return config_error("'trainer.workers' must be in 1..256");
  if (t.accumulate == 0 || t.accumulate > 256)
    return config_error("'trainer.accumulate' must be in 1..256");
  if (!(t.learning_rate > 0))
    return config_error("'trainer.learning-rate' must be positive");
  if (t.lr_schedule != "cosine" && t.lr_schedule != "constant")
    return config_error("bad value '" + t.lr_schedule
                        + "' for 'trainer.lr-schedule' (expected cosine or constant)");
  if (t.max_time <= caf::timespan{0})
    return config_error("'trainer.max-time' must be positive");
  if (t.eval_every == 0)
    return config_error("'trainer.eval-every' must be > 0");
  if (t.checkpoint_period <= caf::timespan{0})
    return config_error("'trainer.checkpoint-period' must be positive");
  return caf::none;
}

}  // namespace dmoe
