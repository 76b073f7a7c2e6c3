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
  std::string host = "127.0.0.1";  // the address this node listens on
  uint16_t port = 0;               // 0 picks a free port
  std::string log_level = "info";
  std::string log_file;            // empty: stderr only
};

struct limit_options {
  uint64_t max_message_bytes = default_max_message_bytes;
  uint64_t max_tensor_bytes = default_max_tensor_bytes;
  uint32_t max_tensor_rank = default_max_tensor_rank;
  uint32_t max_tensors_per_call = default_max_tensors_per_call;
  std::string nan_policy = "reject";  // reject | allow

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
  size_t max_value_bytes = dht::default_max_value_bytes;
  size_t max_entries = default_max_entries;    // items one node stores at most
  size_t max_subkeys = default_max_subkeys;    // sub-keys under one key at most
};

}  // namespace dmoe
