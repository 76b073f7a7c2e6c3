// The swarm of `dmoe-bench wan`: a DHT bootstrap node and expert servers, each its own dmoe-node
// process behind its own dmoe-link (one-way delay rtt/2 in each direction, an optional rate cap).
// Every node advertises its link's address, so every byte another node sends it crosses the
// link; the benchmark's own process joins with a DHT node that advertises nothing, so the nodes
// never dial it and all its traffic crosses the servers' links too. Server i hosts grid row i
// (<block>.i.0 .. <block>.i.<cols-1>).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "tests/process_util.hpp"

namespace dmoe::bench {

struct wan_swarm_options {
  int servers = 4;
  int cols = 4;
  int64_t hidden = 1024;
  std::string block = "ffn";
  uint64_t seed = 1234;
  size_t torch_threads = 1;        // each server emulates one machine's share of the cores
  compression_kind compression = compression_kind::none;
  std::string dir;                 // logs
  std::string node_binary;
  std::string link_binary;
};

struct wan_link {
  int rtt_ms = 0;
  std::string rate = "0";  // dmoe-link --rate (0: unlimited)
};

class wan_swarm {
public:
  /// Starts the links and the nodes and waits until each node listens; errors name the log.
  static caf::expected<std::unique_ptr<wan_swarm>> start(const wan_swarm_options& options,
                                                         const wan_link& link);
  ~wan_swarm();

  /// "127.0.0.1:port" of the DHT node's link.
  std::string bootstrap() const;

  /// The port of server i's link (the address the server advertises).
  uint16_t server_port(int i) const {
    return server_links_.at(static_cast<size_t>(i));
  }

private:
  wan_swarm() = default;
  /// A dmoe-link in front of `target`; returns the port it listens on.
  caf::expected<uint16_t> start_link(uint16_t target, const wan_link& link, const std::string& name);

  wan_swarm_options options_;
  std::vector<test::process> procs_;
  uint16_t bootstrap_link_ = 0;
  std::vector<uint16_t> server_links_;
};

}  // namespace dmoe::bench
