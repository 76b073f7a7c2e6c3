// Plain option structs for each role, filled from config files and the command line by
// node_config; actors take these structs. A field's initial value is its option's default;
// its name, help and bounds are declared once, in runtime/option_declarations.cpp
// (docs/config.md lists them all).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/timespan.hpp>

#include "messages/dht_codec.hpp"
#include "messages/limits.hpp"
#include "runtime/choices.hpp"

namespace dmoe {

using namespace std::chrono_literals;

struct node_options {
  std::string name = "dmoe";
  std::vector<std::string> roles;
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string advertise;
  bool check_advertise = true;
  std::string log_level = "info";
  std::string log_file;
  uint32_t log_file_mb = 64;  // the file rotates at this size
  uint32_t log_files = 4;     // rotated files kept
};

/// The [tls] group (runtime/tls.hpp): all three files, or none (an open swarm, plain TCP).
struct tls_options {
  std::string ca;
  std::string certificate;
  std::string key;

  bool enabled() const {
    return !ca.empty() || !certificate.empty() || !key.empty();
  }
};

struct limit_options {
  uint64_t max_message_bytes = default_max_message_bytes;
  uint64_t max_tensor_bytes = default_max_tensor_bytes;
  uint32_t max_tensor_rank = default_max_tensor_rank;
  uint32_t max_tensors_per_call = default_max_tensors_per_call;
  nan_policy nans = nan_policy::reject;
  uint64_t part_bytes = default_part_bytes;
  uint64_t max_frame_bytes = default_max_frame_bytes;
  uint32_t max_connections = default_max_connections;
  uint32_t max_connections_per_address = default_max_connections_per_address;
  uint64_t max_pending_frame_bytes = default_max_pending_frame_bytes;
  uint64_t max_unsent_bytes = default_max_unsent_bytes;
  caf::timespan handshake_timeout = std::chrono::seconds(10);

  wire_limits wire() const;
};

constexpr size_t default_bucket_size = 20;
constexpr size_t default_alpha = 3;
constexpr size_t default_max_failures = 3;
constexpr size_t default_max_entries = 100000;
constexpr size_t default_max_subkeys = 1024;
constexpr size_t default_max_key_bytes = size_t{8} << 20;
constexpr size_t default_max_stored_mb = 1024;
constexpr size_t default_max_peer_stored_mb = 64;

struct dht_options {
  std::vector<std::string> bootstrap;
  size_t k = default_bucket_size;
  size_t alpha = default_alpha;
  caf::timespan request_timeout = 2s;
  size_t max_failures = default_max_failures;
  caf::timespan refresh_interval = 600s;
  caf::timespan replication_interval = 60s;
  caf::timespan max_ttl = 24h;
  caf::timespan max_owned_ttl = 120s;
  size_t max_value_bytes = dht::default_max_value_bytes;
  size_t max_entries = default_max_entries;
  size_t max_subkeys = default_max_subkeys;
  size_t max_key_bytes = default_max_key_bytes;
  size_t max_stored_mb = default_max_stored_mb;
  size_t max_peer_stored_mb = default_max_peer_stored_mb;
  double peer_access_rate = 50;
  double peer_access_burst = 200;
};

// ---- expert server: actors/server, runtime/experts ----
/// Most samples one expert update may wait for (server.accumulate-samples).
constexpr size_t max_accumulate_samples = size_t{1} << 20;
/// Most memory kept activations may take (server.activation-memory-mb): 1 TiB.
constexpr size_t max_activation_memory_mb = size_t{1} << 20;
/// Largest accepted server.max-tokens.
constexpr size_t max_tokens_limit = size_t{1} << 20;
/// Largest accepted value of the server's queued-MiB limits (1 TiB).
constexpr size_t max_queued_mb_limit = size_t{1} << 20;

struct server_options {
  std::string expert_type = "ffn";
  std::string expert_pattern = "ffn.[0:4].[0:4]";
  size_t num_experts = 0;
  size_t max_experts = 16384;
  int64_t hidden = 256;
  optimizer_kind optimizer = optimizer_kind::adam;
  double learning_rate = 1e-3;
  double momentum = 0.9;
  double weight_decay = 0.0;
  double clip_grad_norm = 1.0;
  size_t warmup_updates = 0;
  size_t accumulate_samples = 0;
  size_t max_batch_size = 1024;
  size_t max_tokens = 1024;
  caf::timespan max_batch_wait = 2ms;
  bool adaptive_wait = true;
  size_t activation_memory_mb = 1024;
  caf::timespan activation_ttl = 30s;
  size_t compute_threads = 1;
  size_t torch_threads = 2;
  caf::timespan declare_period = 5s;
  caf::timespan declare_ttl = 20s;
  std::string checkpoint_dir;
  caf::timespan checkpoint_period = 60s;
  uint64_t seed = 0;
  compression_kind compression = compression_kind::none;
  double fail_rate = 0.0;
  // Fair service (actors/server/peer_admission.hpp): what one peer may have the server hold or
  // do at once; over a limit a call gets an `overloaded` error at once. 0 turns a limit off.
  double peer_request_rate = 20000;
  double peer_request_burst = 40000;
  size_t peer_max_in_flight = 512;
  size_t peer_max_expert_mb = 64;
  size_t peer_max_queued_mb = 256;
  size_t max_queued_mb = 1024;
  double peer_update_rate = 16384;
  double peer_update_burst = 65536;
  double outlier_factor = 10;
  size_t peer_nodes = 4;  // shares of the limits above one address (or member) may hold
};

// ---- DMoE layer on the trainer side: actors/moe ----
/// The grid DMoE layer `layer` of a model routes to: the first one `prefix` itself, every
/// later one its own grid, `prefix-<layer>` (ffn, ffn-1, ffn-2, ...), hosted by servers whose
/// expert pattern names it (e.g. "ffn-1.[0:4].[0:4]").
inline std::string layer_prefix(const std::string& prefix, size_t layer) {
  return layer == 0 ? prefix : prefix + "-" + std::to_string(layer);
}

struct moe_options {
  std::string expert_prefix = "ffn";
  std::vector<int64_t> grid = {4, 4};
  size_t k_best = 4;
  size_t k_min = 1;
  caf::timespan forward_timeout = 5s;
  caf::timespan timeout_after_k_min = 1s;
  size_t backward_k_min = 1;
  caf::timespan backward_timeout = 5s;
  bool allow_zero_outputs = false;
  caf::timespan directory_cache = 2s;
  compression_kind compression = compression_kind::none;
  routing_kind routing = routing_kind::token;
};

// ---- trainer: actors/trainer ----
struct trainer_options {
  task_kind task = task_kind::fashion_mnist;
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::string text_file;
  int64_t vocab_size = 4096;
  size_t context = 128;
  size_t heads = 4;
  double balance_weight = 0.01;
  std::string cache_dir = "/tmp/dmoe-cache";
  int64_t hidden = 256;
  size_t moe_layers = 1;
  model_kind model = model_kind::dmoe;
  size_t batch_size = 128;
  size_t workers = 1;
  size_t max_staleness = 0;
  stale_rate_kind stale_rate = stale_rate_kind::full;
  size_t accumulate = 1;
  double learning_rate = 1e-3;
  lr_schedule_kind lr_schedule = lr_schedule_kind::cosine;
  size_t warmup_steps = 0;
  size_t epochs = 5;
  size_t max_steps = 0;
  caf::timespan max_time = 600s;
  size_t eval_every = 200;
  size_t eval_samples = 0;
  std::string metrics_csv;
  std::string checkpoint_dir;
  caf::timespan checkpoint_period = 30s;
  bool progress = false;
  uint64_t seed = 0;
};

// ---- averaging: actors/averager ----
struct averaging_options {
  size_t every = 0;                     // local steps between outer steps (0: no averaging)
  std::string run = "dmoe";             // trainers of one run average together
  size_t group_size = 8;                // members a round waits for at most
  size_t min_group = 2;                 // fewer: the round is abandoned, parameters stay local
  vector_encoding_kind compression = vector_encoding_kind::float16;
  double outer_learning_rate = 0.7;     // DiLoCo's outer Nesterov step
  double outer_momentum = 0.9;
  caf::timespan gather_timeout = 15s;   // matchmaking: how long a round waits for members
  caf::timespan round_timeout = 60s;    // each phase of the all-reduce
  bool client_mode = false;             // behind NAT: sends and receives, reduces nothing
  bool join_state = true;               // download the swarm's shared parameters at start
};

// ---- inspector: actors/inspector ----
struct inspector_options {
  bool allow_control = false;
};

}  // namespace dmoe
