// dmoe-link's relay: accepts TCP connections on the listen address and relays each to the
// target, holding every chunk of bytes until the link's shaper (shaper.hpp) lets it go. One
// thread (asio's io_context) runs everything. Per connection and direction at most
// `buffer_bytes` wait in the relay; beyond that it stops reading, so senders feel the
// link's rate the way they would through a real one (TCP's window fills up).
#pragma once

#include <memory>
#include <set>

#include <asio.hpp>
#include <caf/error.hpp>
#include <spdlog/logger.h>

#include "apps/link/link_options.hpp"
#include "apps/link/shaper.hpp"

namespace dmoe::link {

class connection;

class relay {
public:
  relay(asio::io_context& io, link_options options, std::shared_ptr<spdlog::logger> log);
  ~relay();

  /// Resolves the target and binds the listen address; errors name the address.
  caf::error open();

  /// Accepts connections and runs the outage schedule (until stop()).
  void start();

  /// Switches the link down or up by hand (on top of the schedule).
  void set_down(bool down);

  /// Closes the listening socket and every connection.
  void stop();

  uint16_t port() const;

  const link_options& options() const {
    return options_;
  }
  outage_clock& outages() {
    return outages_;
  }
  direction_shaper& upstream() {
    return up_;
  }
  direction_shaper& downstream() {
    return down_;
  }
  const asio::ip::tcp::resolver::results_type& target() const {
    return target_;
  }
  spdlog::logger& log() {
    return *log_;
  }
  void closed(const std::shared_ptr<connection>& c);

private:
  void accept();
  void link_changed();
  void watch_schedule();

  asio::io_context& io_;
  link_options options_;
  std::shared_ptr<spdlog::logger> log_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::resolver::results_type target_;
  asio::steady_timer schedule_timer_;
  outage_clock outages_;
  direction_shaper up_;
  direction_shaper down_;
  std::set<std::shared_ptr<connection>> connections_;
  bool was_down_ = false;
  bool stopped_ = false;
};

}  // namespace dmoe::link
