// dmoe-link's timing logic (apps/link/shaper.hpp) and argument parsers, without sockets: time is
// passed in, so every expectation is exact.
#define CAF_SUITE link.shaper
#include <caf/test/unit_test.hpp>

#include "apps/link/link_options.hpp"
#include "apps/link/shaper.hpp"
#include "messages/errors.hpp"

using namespace dmoe;
using namespace dmoe::link;
using namespace std::chrono_literals;

namespace {

const time_point t0 = time_point{} + 1000s;

outage_clock no_outages() {
  return outage_clock{t0, {}};
}

}  // namespace

CAF_TEST(a chunk leaves after the one-way delay) {
  direction_shaper shaper{50ms, 0ms, 0, 1};
  auto clock = no_outages();
  CAF_CHECK(shaper.release_time(t0, 100, {}, clock) == t0 + 50ms);
  CAF_CHECK(shaper.release_time(t0 + 7ms, 100, {}, clock) == t0 + 57ms);
}

CAF_TEST(the rate puts chunks behind each other on the wire) {
  // 8 kbit/s: 1000 bytes take one second on the wire.
  direction_shaper shaper{10ms, 0ms, 8000, 1};
  auto clock = no_outages();
  auto first = shaper.release_time(t0, 1000, {}, clock);
  CAF_CHECK(first == t0 + 1010ms);
  // Arrives while the first is still on the wire: waits for it, then its own second.
  auto second = shaper.release_time(t0 + 500ms, 1000, first, clock);
  CAF_CHECK(second == t0 + 2010ms);
  // After the wire went idle, a chunk only pays its own time.
  auto third = shaper.release_time(t0 + 5s, 500, second, clock);
  CAF_CHECK(third == t0 + 5s + 510ms);
}

CAF_TEST(jitter stays within two deviations and keeps chunks in order) {
  direction_shaper shaper{100ms, 10ms, 0, 42};
  auto clock = no_outages();
  time_point previous{};
  bool varied = false;
  for (int i = 0; i < 2000; ++i) {
    auto arrival = t0 + std::chrono::milliseconds(i);
    auto release = shaper.release_time(arrival, 10, previous, clock);
    CAF_CHECK(release >= previous);
    CAF_CHECK(release >= arrival + 80ms || release == previous);
    CAF_CHECK(release <= arrival + 120ms || release == previous);
    varied = varied || (release - arrival != 100ms);
    previous = release;
  }
  CAF_CHECK(varied);
  // A delay smaller than the jitter never becomes negative.
  direction_shaper tight{1ms, 10ms, 0, 7};
  for (int i = 0; i < 1000; ++i)
    CAF_CHECK(tight.sample_delay() >= 0ns);
}

CAF_TEST(scheduled outages hold the wire and end on time) {
  outage_clock clock{t0, {{2s, 3s}, {4s, 2s}}};  // overlapping: down from 2 s to 6 s
  CAF_CHECK(!clock.down(t0 + 1s));
  CAF_CHECK(clock.down(t0 + 2s));
  CAF_CHECK(clock.down(t0 + 5500ms));
  CAF_CHECK(!clock.down(t0 + 6s));
  CAF_CHECK(clock.up_at(t0 + 3s) == t0 + 6s);
  CAF_CHECK(clock.up_at(t0 + 1s) == t0 + 1s);
  CAF_CHECK(clock.next_change(t0) == t0 + 2s);
  CAF_CHECK(clock.next_change(t0 + 2s) == t0 + 4s);
  CAF_CHECK(clock.next_change(t0 + 6s) == time_point::max());
  direction_shaper shaper{10ms, 0ms, 8000, 1};
  // 1000 bytes arriving in the outage start on the wire when it ends.
  CAF_CHECK(shaper.release_time(t0 + 3s, 1000, {}, clock) == t0 + 7010ms);
}

CAF_TEST(a link switched down by hand has no end until switched up) {
  outage_clock clock{t0, {}};
  clock.set_manual_down(true);
  CAF_CHECK(clock.down(t0));
  CAF_CHECK(clock.up_at(t0) == time_point::max());
  // The wire's schedule goes on; the relay holds the chunk while the link is down.
  direction_shaper shaper{10ms, 0ms, 0, 1};
  CAF_CHECK(shaper.release_time(t0, 10, {}, clock) == t0 + 10ms);
  clock.set_manual_down(false);
  CAF_CHECK(!clock.down(t0));
}

CAF_TEST(the parsers take what the help text shows and name what they refuse) {
  CAF_CHECK(parse_duration("50ms", "--delay") == duration{50ms});
  CAF_CHECK(parse_duration("1.5s", "--delay") == duration{1500ms});
  CAF_CHECK(parse_duration("0", "--delay") == duration{0});
  CAF_CHECK(parse_duration("250us", "--delay") == duration{250us});
  CAF_CHECK(parse_rate("10mbit") == uint64_t{10000000});
  CAF_CHECK(parse_rate("512kbit") == uint64_t{512000});
  CAF_CHECK(parse_rate("0") == uint64_t{0});
  CAF_CHECK(parse_size("8MiB") == uint64_t{8 << 20});
  auto o = parse_outage("30s+5s");
  CAF_REQUIRE(o);
  CAF_CHECK(o->start == duration{30s});
  CAF_CHECK(o->length == duration{5s});
  CAF_CHECK(parse_outage_mode("reset") == outage_mode::reset);
  for (auto text : {"-5ms", "50", "5 ms", "fast", "1e3ms", "nan", ""}) {
    auto d = parse_duration(text, "--delay");
    CAF_CHECK(!d);
    if (!d)
      CAF_CHECK_NOT_EQUAL(message_of(d.error()).find("--delay '" + std::string(text) + "'"),
                          std::string::npos);
  }
  for (auto text : {"10", "10mb", "-1mbit", "4bit", "2000gbit"})
    CAF_CHECK(!parse_rate(text));
  for (auto text : {"0", "8MB", "-1", "100GiB"})
    CAF_CHECK(!parse_size(text));
  for (auto text : {"30s", "30s+0", "+5s", "30s+-1s", "x+5s"})
    CAF_CHECK(!parse_outage(text));
  CAF_CHECK(!parse_outage_mode("drop"));
}
