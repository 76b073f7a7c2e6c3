// dmoe-link: a link emulator for dmoe swarms on one machine (or across a few), since the kernels
// dmoe runs on have no netem. It relays TCP from a listen address to a target, delaying each
// direction by a one-way delay (plus jitter), capping each direction's rate, and cutting the link
// on a schedule or by hand. A server behind it advertises the relay's address
// (node.advertise), so every call to it crosses the link.
//
//   dmoe-link --listen 127.0.0.1:5110 --target 127.0.0.1:4110 --delay 50ms --jitter 5ms
//             --rate 20mbit --outage 60s+5s
//   kill -USR1 PID   # link down (bytes wait; with --outage-mode reset: connections closed)
//   kill -USR2 PID   # link up
// Exit codes: 0 after SIGINT/SIGTERM, 2 for a bad argument, 1 when the listen address is unusable.
#include <csignal>
#include <cstdio>

#include <CLI/CLI.hpp>
#include <asio.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include "apps/link/relay.hpp"
#include "messages/errors.hpp"
#include "runtime/logging.hpp"

using namespace dmoe;

namespace {

struct raw_arguments {
  std::string listen;
  std::string target;
  std::string delay = "0";
  std::string jitter = "0";
  std::string rate = "0";
  std::string buffer = "8MiB";
  std::vector<std::string> outages;
  std::string mode = "hold";
  uint64_t seed = 1;
  std::string log_level = "info";
};

caf::expected<link::link_options> to_options(const raw_arguments& raw) {
  link::link_options out;
  auto listen = parse_endpoint(raw.listen);
  if (!listen)
    return make_error(errc::invalid_argument, "bad --listen: " + message_of(listen.error()));
  auto target = parse_endpoint(raw.target);
  if (!target)
    return make_error(errc::invalid_argument, "bad --target: " + message_of(target.error()));
  if (auto err = check_host(listen->host, "--listen"))
    return err;
  if (auto err = check_host(target->host, "--target"))
    return err;
  out.listen = *listen;
  out.target = *target;
  auto delay = link::parse_duration(raw.delay, "--delay");
  if (!delay)
    return delay.error();
  auto jitter = link::parse_duration(raw.jitter, "--jitter");
  if (!jitter)
    return jitter.error();
  auto rate = link::parse_rate(raw.rate);
  if (!rate)
    return rate.error();
  auto buffer = link::parse_size(raw.buffer);
  if (!buffer)
    return buffer.error();
  auto mode = link::parse_outage_mode(raw.mode);
  if (!mode)
    return mode.error();
  out.delay = *delay;
  out.jitter = *jitter;
  out.rate_bits_per_s = *rate;
  out.buffer_bytes = *buffer;
  out.mode = *mode;
  out.seed = raw.seed;
  for (const auto& text : raw.outages) {
    auto o = link::parse_outage(text);
    if (!o)
      return o.error();
    out.outages.push_back(*o);
  }
  return out;
}

std::string describe_link(const link::link_options& o) {
  using ms = std::chrono::duration<double, std::milli>;
  auto text = fmt::format("delay {:.1f} ms, jitter {:.1f} ms, rate {}", ms(o.delay).count(),
                          ms(o.jitter).count(),
                          o.rate_bits_per_s == 0 ? std::string{"unlimited"}
                                                 : fmt::format("{} bit/s", o.rate_bits_per_s));
  for (const auto& x : o.outages)
    text += fmt::format(", outage at {:.1f} s for {:.1f} s", ms(x.start).count() / 1000,
                        ms(x.length).count() / 1000);
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dmoe-link: relays TCP from --listen to --target through an emulated link"};
  raw_arguments raw;
  app.add_option("--listen", raw.listen, "host:port to accept connections on")->required();
  app.add_option("--target", raw.target, "host:port to relay them to")->required();
  app.add_option("--delay", raw.delay, "one-way delay of each direction, e.g. 50ms");
  app.add_option("--jitter", raw.jitter,
                 "standard deviation of the delay (normal, truncated to +-2x, in order)");
  app.add_option("--rate", raw.rate, "bandwidth of each direction, e.g. 10mbit (0: unlimited)");
  app.add_option("--buffer", raw.buffer, "bytes held per direction and connection, e.g. 8MiB");
  app.add_option("--outage", raw.outages, "START+LENGTH from the start, e.g. 30s+5s (repeatable)");
  app.add_option("--outage-mode", raw.mode, "hold (bytes wait) or reset (connections closed)");
  app.add_option("--seed", raw.seed, "seed of the jitter");
  app.add_option("--log-level", raw.log_level, "trace, debug, info, warn, error");
  CLI11_PARSE(app, argc, argv);

  if (!log::parse_level(raw.log_level)) {
    std::fprintf(stderr, "dmoe-link: bad --log-level '%s'\n", raw.log_level.c_str());
    return 2;
  }
  auto options = to_options(raw);
  if (!options) {
    std::fprintf(stderr, "dmoe-link: %s\n", message_of(options.error()).c_str());
    return 2;
  }
  log::setup(raw.log_level);
  auto logger = log::get("link/" + to_string(options->listen));
  asio::io_context io{1};
  link::relay relay{io, *options, logger};
  if (auto err = relay.open()) {
    std::fprintf(stderr, "dmoe-link: %s\n", message_of(err).c_str());
    return code_of(err) == errc::invalid_argument ? 2 : 1;
  }
  asio::signal_set signals{io, SIGINT, SIGTERM};
  signals.add(SIGUSR1);
  signals.add(SIGUSR2);
  std::function<void(const asio::error_code&, int)> on_signal = [&](const asio::error_code& ec,
                                                                    int sig) {
    if (ec)
      return;
    if (sig == SIGUSR1 || sig == SIGUSR2) {
      relay.set_down(sig == SIGUSR1);
      signals.async_wait(on_signal);
      return;
    }
    logger->info("stopping on {}", sig == SIGINT ? "SIGINT" : "SIGTERM");
    relay.stop();
    signals.cancel();
  };
  signals.async_wait(on_signal);
  relay.start();
  logger->info("listening on {}:{}, relaying to {}: {}", options->listen.host, relay.port(),
               to_string(options->target), describe_link(*options));
  io.run();
  return 0;
}
