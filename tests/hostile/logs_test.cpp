// Row 12 of the second round against hostile peers: a peer's text in a node's log. A peer sends
// 2,000 messages whose type name (read from the wire and quoted in the wire guard's warning)
// carries a newline, a forged log line and a terminal escape, to a real dmoe-node DHT node.
// The log keeps one line per event with the peer's bytes escaped, warns a few times with a
// count instead of 2,000 times, and the node still serves an honest peer.
#define CAF_SUITE hostile.logs
#include <caf/test/unit_test.hpp>

#include <filesystem>

#include <caf/scoped_actor.hpp>

#include "actors/dht/client.hpp"
#include "runtime/node_config.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;
using namespace std::chrono_literals;

namespace {

constexpr size_t sent = 2000;
constexpr const char* forged_line = "2026-01-01 00:00:00.000 critical [dht-bootstrap/node] forged";

struct loud {
  std::string text;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, loud& x) {
  return f(caf::meta::type_name("loud"), x.text);
}

using loud_atom = caf::atom_constant<caf::atom("loud")>;

/// A peer whose message type is named with a newline, a forged line and an escape sequence.
struct hostile_config : node_config {
  hostile_config() {
    add_message_type<loud>(std::string{"loud\n"} + forged_line + "\x1b[2J");
  }
};

}  // namespace

CAF_TEST(a peer cannot forge log lines or flood the log) {
  auto dir = temp_dir("hostile-logs");
  auto port = free_port();
  auto log_path = dir + "/node.log";
  auto node = launch({DMOE_NODE_BINARY, "--config-file=" DMOE_CONFIG_DIR "/dht-bootstrap.ini",
                      "--node.port=" + std::to_string(port), "--node.log-file=\"" + log_path + "\""},
                     dir + "/stderr.log");
  CAF_REQUIRE(node.pid > 0);
  CAF_REQUIRE(wait_listening(port, 20s));
  hostile_config cfg;
  CAF_REQUIRE(!cfg.parse_and_validate(std::vector<std::string>{}));
  caf::actor_system system{cfg};
  auto gateway = connect_node(system, port);
  CAF_REQUIRE(gateway);
  {
    caf::scoped_actor self{system};
    for (size_t i = 0; i < sent; ++i)
      self->send(gateway, loud_atom::value, loud{"x"});
  }
  // An honest request on the same connection, after the attack: answered.
  auto dht = caf::actor_cast<dht::access_actor>(gateway);
  auto stored = dht::store(system, dht, "after", "peer", "127.0.0.1:7000", dht::wall_clock() + 60);
  CAF_CHECK(stored);
  auto got = dht::get(system, dht, "after");
  CAF_CHECK(got && got->items.size() == 1);
  std::this_thread::sleep_for(500ms);  // the log's last lines
  auto log = read_file(log_path);
  auto warned = count_occurrences(log, "dropped a message from");
  CAF_MESSAGE(sent << " hostile messages: " << warned << " warning line(s), "
                   << count_occurrences(log, "\n") << " lines in the log");
  CAF_CHECK_GREATER_OR_EQUAL(warned, 1u);
  CAF_CHECK_LESS_OR_EQUAL(warned, 3u);  // one per 10 s, with a count
  CAF_CHECK_EQUAL(count_occurrences(log, std::string{"\n"} + forged_line), 0u);
  CAF_CHECK_EQUAL(log.find('\x1b'), std::string::npos);
  CAF_CHECK_GREATER_OR_EQUAL(count_occurrences(log, "loud\\x0a2026-01-01"), 1u);  // escaped, quoted
  kill_launched(node.pid);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}
