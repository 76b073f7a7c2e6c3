// Plain option structs for each role, filled from config files and the command line by
// node_config. Defaults are the named constants below; actors take these structs.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/timespan.hpp>

#include "messages/dht_codec.hpp"
#include "messages/limits.hpp"

namespace dmoe {

using namespace std::chrono_literals;

struct node_options {
  std::string name = "dmoe";
  std::vector<std::string> roles;  // any of: dht, server, trainer, inspector
  std::string host = "127.0.0.1";  // the address this node listens on (0.0.0.0: every one)
  uint16_t port = 0;               // 0 picks a free port
  std::string advertise;           // "host" or "host:port" peers dial; empty: host and port
  bool check_advertise = true;     // at start, dial the advertised address and expect this node
  std::string log_level = "info";
  std::string log_file;            // empty: stderr only
};

/// The [tls] group (runtime/tls.hpp): all three files, or none (an open swarm, plain TCP).
struct tls_options {
  std::string ca;           // the swarm CA's certificate (PEM): peers must chain to it
  std::string certificate;  // this node's certificate (PEM), issued by that CA
  std::string key;          // its private key (PEM, unencrypted, readable by its owner only)

  bool enabled() const {
    return !ca.empty() || !certificate.empty() || !key.empty();
  }
};

/// "none" or "float16": how float32 tensors are sent (float16 halves the bytes, ~3 decimal
/// digits survive). Anything else is refused when the config is read.
bool is_compression_name(const std::string& name);

struct limit_options {
  uint64_t max_message_bytes = default_max_message_bytes;
  uint64_t max_tensor_bytes = default_max_tensor_bytes;
  uint32_t max_tensor_rank = default_max_tensor_rank;
  uint32_t max_tensors_per_call = default_max_tensors_per_call;
  std::string nan_policy = "reject";  // reject | allow
  uint64_t part_bytes = default_part_bytes;  // larger payloads cross nodes in parts of this size
  uint64_t max_frame_bytes = default_max_frame_bytes;  // a peer sending a larger one is cut off

  wire_limits wire() const;
};

constexpr size_t default_bucket_size = 20;
constexpr size_t default_alpha = 3;
constexpr size_t default_max_failures = 3;
constexpr size_t default_max_entries = 100000;
constexpr size_t default_max_subkeys = 1024;

struct dht_options {
  std::vector<std::string> bootstrap;  // "host:port" of known peers
  size_t k = default_bucket_size;      // bucket size and replication factor
  size_t alpha = default_alpha;        // parallel requests per lookup
  caf::timespan request_timeout = 2s;
  size_t max_failures = default_max_failures;  // failed requests before a contact is dropped
  caf::timespan refresh_interval = 600s;       // refresh buckets not touched for this long
  caf::timespan replication_interval = 60s;    // republish stored items to the k closest nodes
  caf::timespan max_ttl = 24h;                 // latest acceptable expiration, from now
  caf::timespan max_owned_ttl = 120s;          // the same for owned items (declarations)
  size_t max_value_bytes = dht::default_max_value_bytes;
  size_t max_entries = default_max_entries;    // items one node stores at most
  size_t max_subkeys = default_max_subkeys;    // sub-keys under one key at most
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
  std::string expert_type = "ffn";          // registry name of the experts' module
  std::string expert_pattern = "ffn.[0:4].[0:4]";  // grid cells this server hosts
  size_t num_experts = 0;                   // 0: every cell of the pattern; else a seeded sample
  int64_t hidden = 256;                     // the experts' hidden size
  std::string optimizer = "adam";           // adam | sgd (with momentum)
  double learning_rate = 1e-3;
  double momentum = 0.9;                    // sgd only
  double weight_decay = 0.0;
  double clip_grad_norm = 1.0;              // 0 turns clipping off
  size_t warmup_updates = 0;                // each expert's rate rises linearly over its first
                                            // this many updates (0: none)
  size_t accumulate_samples = 0;            // an expert's update waits for the gradients of at
                                            // least this many samples (0: every backward batch)
  size_t max_batch_size = 1024;             // samples merged into one compute batch at most
  size_t max_tokens = 1024;                 // longest sequence (a free dimension such as a
                                            // transformer's tokens) one call may carry
  caf::timespan max_batch_wait = 2ms;       // how long a batch waits to fill up (when more
                                            // calls are likely to come)
  bool adaptive_wait = true;                // wait only while more calls are likely to come
  size_t activation_memory_mb = 1024;       // forward activations kept for backward calls, per
                                            // server (0: every backward recomputes)
  caf::timespan activation_ttl = 30s;       // how long kept activations wait for their backward
  size_t compute_threads = 1;               // dedicated threads running LibTorch work
  size_t torch_threads = 2;                 // LibTorch intra-op threads per compute thread
  caf::timespan declare_period = 5s;        // how often experts are declared in the DHT
  caf::timespan declare_ttl = 20s;          // how long one declaration stays valid
  std::string checkpoint_dir;               // empty: no checkpoints
  caf::timespan checkpoint_period = 60s;
  uint64_t seed = 0;                        // expert init and sampling; 0: from the node name
  std::string compression = "none";         // none | float16: the replies' float32 tensors
  double fail_rate = 0.0;                   // fault injection: share of forward/backward calls
                                            // answered with an error instead (0..1; 0 = off)
  // Fair service (actors/server/peer_admission.hpp): what one peer may have the server hold or
  // do at once; over a limit a call gets an `overloaded` error at once. 0 turns a limit off.
  double peer_request_rate = 5000;          // requests per second per peer
  double peer_request_burst = 10000;
  size_t peer_max_in_flight = 512;          // calls queued or computing per peer
  size_t peer_max_expert_mb = 64;           // request MiB waiting per peer at one expert
  size_t peer_max_queued_mb = 256;          // request MiB waiting per peer
  size_t max_queued_mb = 1024;              // request MiB waiting, all peers
  double peer_update_rate = 4096;           // backward samples per second per peer and expert
  double peer_update_burst = 16384;
  double outlier_factor = 10;               // an update whose gradient norm per sample exceeds
                                            // this many times the largest of the last 101
                                            // accepted is refused
};

// ---- DMoE layer on the trainer side: actors/moe ----
/// The grid DMoE layer `layer` of a model routes to: the first one `prefix` itself, every
/// later one its own grid, `prefix-<layer>` (ffn, ffn-1, ffn-2, ...), hosted by servers whose
/// expert pattern names it (e.g. "ffn-1.[0:4].[0:4]").
inline std::string layer_prefix(const std::string& prefix, size_t layer) {
  return layer == 0 ? prefix : prefix + "-" + std::to_string(layer);
}

struct moe_options {
  std::string expert_prefix = "ffn";        // grid name the layer routes to
  std::vector<int64_t> grid = {4, 4};       // grid dimensions
  size_t k_best = 4;                        // experts asked per sample
  size_t k_min = 1;                         // fewer answers than this fails the sample's call
  caf::timespan forward_timeout = 5s;
  caf::timespan timeout_after_k_min = 1s;   // wait for stragglers once k_min have answered
  size_t backward_k_min = 1;
  caf::timespan backward_timeout = 5s;
  bool allow_zero_outputs = false;          // below k_min: zeros instead of an error
  caf::timespan directory_cache = 2s;       // how long DHT prefix lookups are reused
  std::string compression = "none";         // none | float16: the requests' float32 tensors
};

// ---- trainer: actors/trainer ----
struct trainer_options {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  int64_t hidden = 256;
  size_t moe_layers = 1;
  std::string model = "dmoe";               // dmoe | largeffn: each DMoE layer replaced by one
                                            // local ffn block with as many parameters as the
                                            // moe.grid's experts (inner width 4 h x cells)
  size_t batch_size = 128;
  size_t workers = 1;                       // batches in flight (asynchronous, shared parameters)
  size_t max_staleness = 0;                 // staler gradients are dropped; 0: workers
  std::string stale_rate = "full";          // full | divided: an update's rate divided by its
                                            // staleness (shared_parameters.hpp)
  size_t accumulate = 1;                    // gradients averaged into one update of the local
                                            // parameters (shared_parameters.hpp)
  double learning_rate = 1e-3;
  std::string lr_schedule = "cosine";       // cosine (decays to 10% over the run) | constant
  size_t warmup_steps = 0;                  // the rate rises linearly over the first steps
  size_t epochs = 5;                        // passes over the training set (0: no limit)
  size_t max_steps = 0;                     // 0: no step limit
  caf::timespan max_time = 600s;
  size_t eval_every = 200;                  // steps between test-set evaluations
  size_t eval_samples = 0;                  // test images per evaluation (0: all of them)
  std::string metrics_csv;                  // empty: no CSV
  std::string checkpoint_dir;               // empty: none; else resumes from its trainer.pt
  caf::timespan checkpoint_period = 30s;    // between checkpoints while training
  bool progress = false;                    // a progress bar on stderr
  uint64_t seed = 0;
};

// ---- inspector: actors/inspector ----
struct inspector_options {
  bool allow_control = false;               // read-only unless set
};

}  // namespace dmoe
