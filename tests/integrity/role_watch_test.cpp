// A node whose gateway or role actor stops by itself says why and ends (apps/node/roles.hpp's
// watchdog; dmoe-node then exits with code 3); a node stopped on purpose does not complain.
#define CAF_SUITE integrity.role_watch
#include <caf/test/unit_test.hpp>

#include <atomic>
#include <mutex>

#include <caf/io/middleman.hpp>

#include "apps/node/roles.hpp"
#include "runtime/endpoint.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;

namespace {

struct watched_node {
  node_config cfg;
  std::unique_ptr<caf::actor_system> system;
  std::unique_ptr<node_roles> roles;
  std::mutex mutex;
  std::vector<std::string> failures;

  watched_node() {
    CAF_REQUIRE(!cfg.parse_and_validate(std::vector<std::string>{
      "--node.name=\"watched\"", "--node.roles=[\"dht\"]", "--node.host=\"127.0.0.1\"",
      "--node.port=0", "--dht.bootstrap=[]"}));
    system = std::make_unique<caf::actor_system>(cfg);
    roles = std::make_unique<node_roles>(*system, cfg, nullptr, [this](const std::string& why) {
      std::lock_guard<std::mutex> lock{mutex};
      failures.push_back(why);
    });
    // Starting includes the dial-back check: a guarded connection from the node to itself.
    if (auto err = roles->start())
      CAF_FAIL("cannot start: " << describe(err));
  }

  size_t failure_count() {
    std::lock_guard<std::mutex> lock{mutex};
    return failures.size();
  }

  caf::actor gateway() {
    auto ep = parse_endpoint(roles->endpoint());
    CAF_REQUIRE(ep);
    auto handle = remote_node(*system, ep->host, ep->port);
    CAF_REQUIRE(handle);
    CAF_REQUIRE(handle->node() == system->node());  // the local actor itself
    return *handle;
  }
};

}  // namespace

CAF_TEST(a gateway that stops by itself is reported with its reason) {
  watched_node n;
  caf::anon_send_exit(n.gateway(), caf::exit_reason::kill);  // as a crash would
  CAF_CHECK(poll_until([&] { return n.failure_count() > 0; }, std::chrono::seconds(10)));
  {
    std::lock_guard<std::mutex> lock{n.mutex};
    CAF_REQUIRE_EQUAL(n.failures.size(), 1u);
    CAF_CHECK(n.failures[0].find("gateway") != std::string::npos);
    CAF_CHECK(n.failures[0].find("kill") != std::string::npos);
  }
  n.roles->stop();
}

CAF_TEST(a node stopped on purpose reports no failed role) {
  watched_node n;
  n.roles->stop();
  // Every down message the watchdog could see has been handled once every actor has ended.
  n.system->await_all_actors_done();
  CAF_CHECK_EQUAL(n.failure_count(), 0u);
}
