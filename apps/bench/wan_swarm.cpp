#include "apps/bench/wan_swarm.hpp"

#include <fmt/core.h>

#include "apps/bench/bench_processes.hpp"
#include "messages/errors.hpp"

namespace dmoe::bench {

namespace {

constexpr auto start_limit = std::chrono::seconds(30);

std::string delay_of(const wan_link& link) {
  return fmt::format("{}us", link.rtt_ms * 500);  // half the round trip each way
}

}  // namespace

caf::expected<uint16_t> wan_swarm::start_link(uint16_t target, const wan_link& link,
                                              const std::string& name) {
  auto port = test::free_port();
  procs_.push_back(test::launch({options_.link_binary, "--listen", fmt::format("127.0.0.1:{}", port),
                                 "--target", fmt::format("127.0.0.1:{}", target), "--delay",
                                 delay_of(link), "--rate", link.rate, "--log-level", "warn"},
                                fmt::format("{}/{}-link.log", options_.dir, name)));
  if (!test::wait_listening(port, std::chrono::seconds(10)))
    return make_error(errc::unavailable, fmt::format("the link of {} did not start (log: {}/{}-link.log)",
                                                     name, options_.dir, name));
  return port;
}

caf::expected<std::unique_ptr<wan_swarm>> wan_swarm::start(const wan_swarm_options& options,
                                                           const wan_link& link) {
  std::unique_ptr<wan_swarm> s{new wan_swarm};
  s->options_ = options;
  auto node = [&](const std::string& name, uint16_t port, uint16_t advertised,
                  std::vector<std::string> extra) {
    std::vector<std::string> args{options.node_binary, fmt::format("--node.name=\"{}\"", name),
                                  fmt::format("--node.port={}", port),
                                  fmt::format("--node.advertise=\"127.0.0.1:{}\"", advertised),
                                  "--node.log-level=\"warn\""};
    args.insert(args.end(), extra.begin(), extra.end());
    s->procs_.push_back(test::launch(args, fmt::format("{}/{}.log", options.dir, name)));
  };
  auto dht_port = test::free_port();
  auto dht_link = s->start_link(dht_port, link, "wan-dht");
  if (!dht_link)
    return dht_link.error();
  s->bootstrap_link_ = *dht_link;
  node("wan-dht", dht_port, *dht_link, {"--node.roles=[\"dht\"]"});
  if (!test::wait_listening(dht_port, start_limit))
    return make_error(errc::unavailable, "the DHT node did not start (log: " + options.dir
                                           + "/wan-dht.log)");
  std::vector<uint16_t> ports;
  for (int i = 0; i < options.servers; ++i) {
    auto port = test::free_port();
    auto name = fmt::format("wan-server-{}", i);
    auto relay = s->start_link(port, link, name);
    if (!relay)
      return relay.error();
    s->server_links_.push_back(*relay);
    ports.push_back(port);
    node(name, port, *relay,
         {"--node.roles=[\"dht\",\"server\"]",
          fmt::format("--dht.bootstrap=[\"{}\"]", s->bootstrap()),
          fmt::format("--server.expert-type=\"{}\"", options.block),
          fmt::format("--server.expert-pattern=\"{}.[{}:{}].[0:{}]\"", options.block, i, i + 1,
                      options.cols),
          fmt::format("--server.hidden={}", options.hidden),
          fmt::format("--server.seed={}", options.seed),
          fmt::format("--server.torch-threads={}", options.torch_threads),
          fmt::format("--server.compression=\"{}\"", name_of(options.compression)),
          "--server.declare-period=2s", "--server.declare-ttl=30s"});
  }
  for (int i = 0; i < options.servers; ++i)
    if (!test::wait_listening(ports[static_cast<size_t>(i)], start_limit))
      return make_error(errc::unavailable, fmt::format("server {} did not start (log: {}/wan-server-{}.log)",
                                                       i, options.dir, i));
  return s;
}

wan_swarm::~wan_swarm() {
  stop_all(procs_);
}

std::string wan_swarm::bootstrap() const {
  return fmt::format("127.0.0.1:{}", bootstrap_link_);
}

}  // namespace dmoe::bench
