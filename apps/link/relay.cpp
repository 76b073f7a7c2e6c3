#include "apps/link/relay.hpp"

#include <spdlog/spdlog.h>

#include "apps/link/connection.hpp"
#include "messages/errors.hpp"

namespace dmoe::link {

relay::relay(asio::io_context& io, link_options options, std::shared_ptr<spdlog::logger> log)
  : io_(io),
    options_(std::move(options)),
    log_(std::move(log)),
    acceptor_(io),
    schedule_timer_(io),
    outages_(clock_type::now(), options_.outages),
    up_(options_.delay, options_.jitter, options_.rate_bits_per_s, options_.seed),
    down_(options_.delay, options_.jitter, options_.rate_bits_per_s, options_.seed + 1) {
}

relay::~relay() = default;

caf::error relay::open() {
  asio::error_code ec;
  asio::ip::tcp::resolver resolver{io_};
  target_ = resolver.resolve(asio::ip::tcp::v4(), options_.target.host,
                             std::to_string(options_.target.port), ec);
  if (ec)
    return make_error(errc::invalid_argument, "cannot resolve the target "
                                                + to_string(options_.target) + ": " + ec.message());
  auto listen = resolver.resolve(asio::ip::tcp::v4(), options_.listen.host,
                                 std::to_string(options_.listen.port), ec);
  if (ec)
    return make_error(errc::invalid_argument, "cannot resolve the listen address "
                                                + to_string(options_.listen) + ": " + ec.message());
  auto where = listen.begin()->endpoint();
  acceptor_.open(where.protocol(), ec);
  if (!ec)
    acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    acceptor_.bind(where, ec);
  if (!ec)
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return make_error(errc::unavailable,
                      "cannot listen on " + to_string(options_.listen) + ": " + ec.message());
  return caf::none;
}

uint16_t relay::port() const {
  asio::error_code ec;
  auto ep = acceptor_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void relay::start() {
  accept();
  watch_schedule();
}

void relay::accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (stopped_)
      return;
    if (ec) {
      log_->warn("accept failed: {}", ec.message());
    } else if (options_.mode == outage_mode::reset && outages_.down(clock_type::now())) {
      log_->debug("refused a connection during an outage");
      asio::error_code ignored;
      socket.close(ignored);
    } else {
      auto c = std::make_shared<connection>(*this, std::move(socket));
      connections_.insert(c);
      c->start();
    }
    accept();
  });
}

void relay::closed(const std::shared_ptr<connection>& c) {
  connections_.erase(c);
}

void relay::set_down(bool down) {
  outages_.set_manual_down(down);
  link_changed();
}

void relay::link_changed() {
  bool down = outages_.down(clock_type::now());
  if (down == was_down_)
    return;
  was_down_ = down;
  log_->info("link {} ({} connections)", down ? "down" : "up", connections_.size());
  auto current = connections_;  // closing a connection erases it from the set
  for (const auto& c : current) {
    if (down && options_.mode == outage_mode::reset)
      c->close("outage (reset)");
    else if (!down)
      c->poke();
  }
}

void relay::watch_schedule() {
  auto next = outages_.next_change(clock_type::now());
  if (next == time_point::max() || stopped_)
    return;
  schedule_timer_.expires_at(next);
  schedule_timer_.async_wait([this](const asio::error_code& ec) {
    if (ec || stopped_)
      return;
    link_changed();
    watch_schedule();
  });
}

void relay::stop() {
  stopped_ = true;
  asio::error_code ignored;
  acceptor_.close(ignored);
  schedule_timer_.cancel();
  auto current = connections_;
  for (const auto& c : current)
    c->close("relay stopped");
}

}  // namespace dmoe::link
