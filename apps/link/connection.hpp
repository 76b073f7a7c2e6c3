// One relayed TCP connection of dmoe-link: client <-> relay <-> target, two pumps (upstream:
// client to target, downstream: target to client), each a queue of chunks with release times.
#pragma once

#include <array>
#include <deque>
#include <memory>
#include <vector>

#include <asio.hpp>

#include "apps/link/shaper.hpp"

namespace dmoe::link {

class relay;

class connection : public std::enable_shared_from_this<connection> {
public:
  connection(relay& owner, asio::ip::tcp::socket client);

  /// Connects to the target and starts both pumps.
  void start();

  /// Closes both sockets (once) and tells the relay.
  void close(const char* why);

  /// The link came back up: chunks held for the outage may go now.
  void poke();

private:
  static constexpr size_t read_size = 16 * 1024;

  struct chunk {
    std::vector<char> bytes;
    time_point release;
  };

  struct pump {
    pump(asio::io_context& io, asio::ip::tcp::socket& from, asio::ip::tcp::socket& to,
         direction_shaper& shaper, const char* name)
      : from(from), to(to), shaper(shaper), timer(io), name(name) {
    }
    asio::ip::tcp::socket& from;
    asio::ip::tcp::socket& to;
    direction_shaper& shaper;
    asio::steady_timer timer;
    const char* name;
    std::deque<chunk> queue;
    size_t queued = 0;
    time_point last_release{};
    bool reading = false;
    bool writing = false;
    bool waiting = false;  // the timer runs for the chunk at the front
    bool parked = false;   // the link is down by hand: wait for poke()
    bool eof = false;      // `from` has closed its side
    bool shut = false;     // `to` has been told (shutdown of sending)
    uint64_t bytes = 0;
    std::array<char, read_size> buffer{};
  };

  bool can_write(const pump& p) const;
  void read(pump& p);
  void write(pump& p);
  void finish_if_done();

  relay& owner_;
  asio::ip::tcp::socket client_;
  asio::ip::tcp::socket server_;
  pump up_;
  pump down_;
  bool connected_ = false;
  bool closed_ = false;
};

}  // namespace dmoe::link
