#include "apps/link/connection.hpp"

#include <spdlog/spdlog.h>

#include "apps/link/relay.hpp"

namespace dmoe::link {

connection::connection(relay& owner, asio::ip::tcp::socket client)
  : owner_(owner),
    client_(std::move(client)),
    server_(client_.get_executor()),
    up_(static_cast<asio::io_context&>(client_.get_executor().context()), client_, server_,
        owner.upstream(), "upstream"),
    down_(static_cast<asio::io_context&>(client_.get_executor().context()), server_, client_,
          owner.downstream(), "downstream") {
}

void connection::start() {
  asio::error_code ignored;
  client_.set_option(asio::ip::tcp::no_delay(true), ignored);
  auto self = shared_from_this();
  asio::async_connect(server_, owner_.target(),
                      [this, self](const asio::error_code& ec, const asio::ip::tcp::endpoint&) {
                        if (closed_)
                          return;
                        if (ec) {
                          owner_.log().warn("cannot reach the target: {}", ec.message());
                          return close("target unreachable");
                        }
                        asio::error_code ignored;
                        server_.set_option(asio::ip::tcp::no_delay(true), ignored);
                        connected_ = true;
                        read(down_);
                        write(up_);
                      });
  // The client's bytes are read (and delayed) while the target is being dialed.
  read(up_);
}

bool connection::can_write(const pump& p) const {
  return &p == &down_ || connected_;
}

void connection::read(pump& p) {
  if (closed_ || p.reading || p.eof || p.queued >= owner_.options().buffer_bytes)
    return;
  if (&p == &down_ && !connected_)
    return;
  p.reading = true;
  auto self = shared_from_this();
  p.from.async_read_some(asio::buffer(p.buffer), [this, self, &p](const asio::error_code& ec,
                                                                  size_t n) {
    p.reading = false;
    if (closed_)
      return;
    if (ec) {
      if (ec != asio::error::eof)
        return close(ec == asio::error::operation_aborted ? "aborted" : "read failed");
      p.eof = true;
      return write(p);  // flush what is held, then pass the end on
    }
    auto now = clock_type::now();
    auto release = p.shaper.release_time(now, n, p.last_release, owner_.outages());
    p.last_release = release;
    p.queue.push_back(chunk{std::vector<char>(p.buffer.begin(), p.buffer.begin() + n), release});
    p.queued += n;
    write(p);
    read(p);
  });
}

void connection::write(pump& p) {
  if (closed_ || p.writing || p.waiting || !can_write(p))
    return;
  if (p.queue.empty()) {
    if (p.eof && !p.shut) {
      p.shut = true;
      asio::error_code ignored;
      p.to.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
      finish_if_done();
    }
    return;
  }
  auto now = clock_type::now();
  auto due = p.queue.front().release;
  auto& outages = owner_.outages();
  if (outages.down(std::max(now, due)))
    due = outages.up_at(std::max(now, due));
  if (due == time_point::max()) {
    p.parked = true;  // down by hand: poke() brings it back
    return;
  }
  auto self = shared_from_this();
  if (due > now) {
    p.waiting = true;
    p.timer.expires_at(due);
    p.timer.async_wait([this, self, &p](const asio::error_code&) {
      p.waiting = false;
      write(p);
    });
    return;
  }
  p.writing = true;
  asio::async_write(p.to, asio::buffer(p.queue.front().bytes),
                    [this, self, &p](const asio::error_code& ec, size_t n) {
                      p.writing = false;
                      if (closed_)
                        return;
                      if (ec)
                        return close("write failed");
                      p.bytes += n;
                      p.queued -= n;
                      p.queue.pop_front();
                      read(p);  // reading resumes once the backlog is below the buffer size
                      write(p);
                    });
}

void connection::poke() {
  for (auto* p : {&up_, &down_}) {
    if (p->waiting)
      p->timer.cancel();  // its handler re-evaluates
    if (p->parked) {
      p->parked = false;
      write(*p);
    }
  }
}

void connection::finish_if_done() {
  if (up_.shut && down_.shut)
    close("both sides finished");
}

void connection::close(const char* why) {
  if (closed_)
    return;
  closed_ = true;
  owner_.log().debug("connection closed ({}): {} bytes upstream, {} downstream", why, up_.bytes,
                     down_.bytes);
  asio::error_code ignored;
  up_.timer.cancel();
  down_.timer.cancel();
  client_.close(ignored);
  server_.close(ignored);
  owner_.closed(shared_from_this());
}

}  // namespace dmoe::link
