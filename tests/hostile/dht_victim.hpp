// What the hostile tests share: a real dmoe-node with the DHT and inspector roles on loopback
// (dht_victim), and what a peer reads of a node: its stats, as dmoe-shell shows them, and its
// DHT contacts.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/dht/node.hpp"
#include "actors/inspector/inspector.hpp"
#include "messages/type_ids.hpp"
#include "runtime/node_config.hpp"
#include "tests/process_util.hpp"

namespace dmoe::test {

/// The stat `name` of the node whose gateway is `gateway`; -1 when it cannot be read.
inline int64_t node_stat(caf::actor_system& system, const caf::actor& gateway,
                         const std::string& name) {
  caf::scoped_actor self{system};
  std::string text;
  self->request(gateway, std::chrono::seconds(10), inspect_atom::value, std::string{"stats"})
    .receive([&](std::string& out) { text = std::move(out); }, [](caf::error&) {});
  std::smatch m;
  if (!std::regex_search(text, m, std::regex{"\\b" + name + ": ([0-9]+)"}))
    return -1;
  return std::stoll(m[1].str());
}

/// How many contacts the DHT node behind `gateway` has (its dht_info); -1 when unreadable.
inline int dht_contacts(caf::actor_system& system, const caf::actor& gateway) {
  caf::scoped_actor self{system};
  std::string text;
  self->request(gateway, std::chrono::seconds(10), dht::dht_info_atom::value)
    .receive([&](std::string& out) { text = std::move(out); }, [](caf::error&) {});
  std::smatch m;
  if (!std::regex_search(text, m, std::regex{"([0-9]+) contacts"}))
    return -1;
  return std::stoi(m[1].str());
}

/// A dmoe-node with the DHT and inspector roles (configs/dht-bootstrap.ini, alone in its swarm)
/// and an actor system of the test's own connected to its gateway.
struct dht_victim {
  std::string dir;
  uint16_t port = free_port();
  process node;
  node_config cfg;
  std::unique_ptr<caf::actor_system> system;
  caf::actor gateway;

  /// `extra`: more options for the node.
  explicit dht_victim(const std::string& what, std::vector<std::string> extra = {})
    : dir(temp_dir(what)) {
    std::vector<std::string> args{DMOE_NODE_BINARY,
                                  "--config-file=" DMOE_CONFIG_DIR "/dht-bootstrap.ini",
                                  "--node.port=" + std::to_string(port),
                                  "--node.roles=[\"dht\",\"inspector\"]"};
    args.insert(args.end(), extra.begin(), extra.end());
    node = launch(args, dir + "/node.log");
    CAF_REQUIRE(node.pid > 0);
    CAF_REQUIRE(wait_listening(port, std::chrono::seconds(20)));
    CAF_REQUIRE(!cfg.parse_and_validate(std::vector<std::string>{}));
    system = std::make_unique<caf::actor_system>(cfg);
    gateway = connect_node(*system, port);
    CAF_REQUIRE(gateway);
  }

  ~dht_victim() {
    system.reset();
    kill_launched(node.pid);
    std::error_code ignored;  // a failed CAF_REQUIRE aborts before: its logs stay
    std::filesystem::remove_all(dir, ignored);
  }

  int64_t stat(const std::string& name) {
    return node_stat(*system, gateway, name);
  }
  int contacts() {
    return dht_contacts(*system, gateway);
  }
};

}  // namespace dmoe::test
