// dmoe-dht: stores and reads values on a running DHT node over TCP.
//   dmoe-dht --node 127.0.0.1:4100 store ffn.3. server-a 127.0.0.1:5000 --ttl 60
//   dmoe-dht --node 127.0.0.1:4100 get ffn.3.
#include <cstdio>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>

#include "actors/dht/client.hpp"
#include "apps/common/tool_config.hpp"
#include "messages/declaration.hpp"
#include "messages/errors.hpp"
#include "runtime/endpoint.hpp"
#include "runtime/node_dial.hpp"
#include "runtime/logging.hpp"
#include "runtime/node_config.hpp"

using namespace dmoe;

int main(int argc, char** argv) {
  CLI::App app{"dmoe-dht: store and get values through a running DHT node"};
  std::string node = "127.0.0.1:4100";
  double timeout_s = 10;
  app.add_option("--node", node, "the DHT node to talk to, host:port");
  app.add_option("--timeout", timeout_s, "seconds to wait for an answer")->check(CLI::PositiveNumber);
  std::string key, subkey, value;
  double ttl = 60;
  auto* store_cmd = app.add_subcommand("store", "store VALUE under KEY (and SUBKEY) for --ttl seconds");
  store_cmd->add_option("key", key)->required();
  store_cmd->add_option("subkey", subkey, "\"\" for the key's plain value")->required();
  store_cmd->add_option("value", value)->required();
  store_cmd->add_option("--ttl", ttl, "seconds until the value expires")->check(CLI::PositiveNumber);
  auto* get_cmd = app.add_subcommand("get", "print the newest unexpired items under KEY");
  get_cmd->add_option("key", key)->required();
  app.require_subcommand(1);
  tool_config_flags config_flags;
  config_flags.add_to(app);
  CLI11_PARSE(app, argc, argv);

  log::setup("warn");
  auto ep = parse_endpoint(node);
  if (!ep) {
    std::fprintf(stderr, "dmoe-dht: %s\n", describe(ep.error()).c_str());
    return 2;
  }
  node_config cfg;
  if (auto err = config_flags.parse(cfg)) {
    std::fprintf(stderr, "dmoe-dht: %s\n", describe(err).c_str());
    return 2;
  }
  caf::actor_system system{cfg};
  if (auto err = tool_config_flags::apply(system, cfg, "dmoe-dht/wire")) {
    std::fprintf(stderr, "dmoe-dht: %s\n", describe(err).c_str());
    return 2;
  }
  auto timeout = std::chrono::duration_cast<caf::timespan>(std::chrono::duration<double>(timeout_s));
  // A node publishes its gateway, which passes these requests to its DHT node.
  auto published = dial_as<dht::access_actor>(
    system, ep->host, ep->port, std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
  if (!published) {
    std::fprintf(stderr, "dmoe-dht: cannot reach %s: %s\n", node.c_str(),
                 message_of(published.error()).c_str());
    return 1;
  }
  const auto& handle = *published;
  if (store_cmd->parsed()) {
    auto stored = dht::store(system, handle, key, subkey, value, dht::wall_clock() + ttl, timeout);
    if (!stored) {
      std::fprintf(stderr, "dmoe-dht: store failed: %s\n", describe(stored.error()).c_str());
      return 1;
    }
    std::printf("stored on %u nodes (lookup: %u rounds, %u requests)\n", stored->replicas,
                stored->stats.rounds, stored->stats.requests);
    return 0;
  }
  auto got = dht::get(system, handle, key, timeout);
  if (!got) {
    std::fprintf(stderr, "dmoe-dht: get failed: %s\n", describe(got.error()).c_str());
    return 1;
  }
  if (got->items.empty()) {
    std::printf("no unexpired items under '%s'\n", key.c_str());
    return 3;
  }
  auto now = dht::wall_clock();
  for (const auto& x : got->items)
    std::printf("%s\t%s\texpires in %.0f s\n", x.subkey.empty() ? "(value)" : x.subkey.c_str(),
                printable_value(x.value).c_str(), x.expiration - now);
  return 0;
}
