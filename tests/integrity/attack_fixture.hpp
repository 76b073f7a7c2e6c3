// A real dmoe-node (DHT, server with two small experts, inspector) on loopback, attacked by the
// test process with plain CAF and raw sockets; helpers to check that it still answers.
#pragma once

#include <chrono>
#include <csignal>
#include <fstream>
#include <string>

#include <sys/wait.h>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <torch/types.h>

#include "actors/dht/node.hpp"
#include "messages/type_ids.hpp"
#include "runtime/expert_codec.hpp"
#include "runtime/node_config.hpp"
#include "tests/process_util.hpp"

namespace dmoe::test {

constexpr int64_t victim_hidden = 16;
constexpr auto victim_timeout = std::chrono::seconds(10);

/// The row count of the outputs in a forward call's reply, or the error it carries.
inline caf::expected<int64_t> forward_rows(payload reply) {
  auto decoded = decode_expert_reply(std::move(reply));
  if (!decoded)
    return decoded.error();
  if (auto* err = std::get_if<caf::error>(&*decoded))
    return *err;
  if (auto* fwd = std::get_if<forward_result>(&*decoded))
    return fwd->outputs.at(0).size(0);
  return make_error(errc::malformed, "not a forward reply");
}

struct victim_fixture {
  std::string dir = temp_dir("integrity");
  uint16_t port = free_port();
  process node;
  node_config cfg;
  std::unique_ptr<caf::actor_system> system;
  caf::actor gateway;

  victim_fixture() {
    node = launch({DMOE_NODE_BINARY, "--config-file=" DMOE_CONFIG_DIR "/server.ini",
                   "--node.name=\"victim\"", "--node.port=" + std::to_string(port),
                   "--dht.bootstrap=[]", "--server.expert-pattern=\"ffn.[0:1].[0:2]\"",
                   "--server.hidden=" + std::to_string(victim_hidden)},
                  dir + "/victim.log");
    CAF_REQUIRE(node.pid > 0);
    CAF_REQUIRE(!cfg.parse_and_validate(std::vector<std::string>{}));
    system = std::make_unique<caf::actor_system>(cfg);
    gateway = connect_node(*system, port);
    if (!gateway)
      CAF_MESSAGE(read_file(node.log_path));
    CAF_REQUIRE(gateway);
    // The gateway listens before the node's roles are routed to it.
    poll_until([this] { return dht_info() && forward("ffn.0.0", 1); }, std::chrono::seconds(30),
               std::chrono::milliseconds(100));
  }

  ~victim_fixture() {
    if (node.pid > 0) {
      kill(node.pid, SIGKILL);
      wait_exit(node.pid, std::chrono::seconds(10));
    }
  }

  /// Whether the node process is still running (reaps it when not).
  bool alive() {
    if (node.pid <= 0)
      return false;
    int status = 0;
    if (waitpid(node.pid, &status, WNOHANG) == 0)
      return true;
    node.pid = -1;
    return false;
  }

  std::string log() const {
    return read_file(node.log_path);
  }

  /// The DHT's summary through the gateway; `sender` gets the actor that answered.
  caf::expected<std::string> dht_info(caf::strong_actor_ptr* sender = nullptr) {
    caf::scoped_actor self{*system};
    caf::expected<std::string> result = caf::sec::request_timeout;
    self->request(gateway, victim_timeout, dht::dht_info_atom::value)
      .receive(
        [&](std::string& text) {
          result = std::move(text);
          if (sender)
            *sender = self->current_sender();
        },
        [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  /// One forward call of `rows` x victim_hidden through the gateway: the outputs' row count,
  /// or the error. `sender` gets the actor that answered (the server's).
  caf::expected<int64_t> forward(const std::string& expert, int64_t rows,
                                 caf::strong_actor_ptr* sender = nullptr) {
    caf::scoped_actor self{*system};
    caf::expected<int64_t> result = caf::sec::request_timeout;
    auto request = encode(expert_call{forward_call{expert, {torch::randn({rows, victim_hidden})}}});
    self->request(gateway, victim_timeout, expert_rpc_atom::value, std::move(request))
      .receive(
        [&](payload& reply) {
          if (sender)
            *sender = self->current_sender();
          result = forward_rows(std::move(reply));
        },
        [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  /// Whether the node still answers the DHT and an expert call.
  void require_answers(const char* after) {
    auto info = dht_info();
    auto rows = forward("ffn.0.0", 3);
    if (!info || !rows || *rows != 3) {
      CAF_MESSAGE(log());
      CAF_FAIL("the node does not answer after " << after << ": DHT "
               << (info ? "ok" : to_string(info.error())) << ", expert "
               << (rows ? std::to_string(*rows) + " rows" : to_string(rows.error())));
    }
  }
};

}  // namespace dmoe::test
