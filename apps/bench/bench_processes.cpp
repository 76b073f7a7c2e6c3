#include "apps/bench/bench_processes.hpp"

#include <csignal>
#include <set>

#include <unistd.h>

#include <caf/scoped_actor.hpp>

#include "actors/dht/client.hpp"
#include "actors/dht/node.hpp"
#include "messages/declaration.hpp"

namespace dmoe::bench {

std::string own_dir() {
  std::vector<char> buf(4096);
  auto n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  std::string path(buf.data(), n > 0 ? static_cast<size_t>(n) : 0);
  return path.substr(0, path.rfind('/'));
}

void stop_launched_on_signals() {
  signal(SIGINT, test::kill_launched_and_abort);
  signal(SIGTERM, test::kill_launched_and_abort);
}

void stop_all(std::vector<test::process>& procs) {
  for (auto& p : procs)
    if (p.pid > 0)
      kill(p.pid, SIGTERM);
  for (auto& p : procs)
    if (p.pid > 0) {
      if (test::wait_exit(p.pid, std::chrono::milliseconds(5000)) < 0) {
        kill(p.pid, SIGKILL);
        test::wait_exit(p.pid, std::chrono::milliseconds(2000));
      }
      p.pid = -1;
    }
}

dht::node_actor start_client_dht(caf::actor_system& system, const std::string& name,
                            const std::string& bootstrap) {
  dht::node_setup setup;
  setup.name = name;
  setup.options.bootstrap = {bootstrap};
  auto node = dht::spawn_node(system, setup);
  caf::scoped_actor self{system};
  self->request(node, std::chrono::seconds(30), dht::dht_start_atom::value, std::string{})
    .receive([](uint32_t) {}, [](caf::error&) {});
  return node;
}

bool wait_declared(caf::actor_system& system, const dht::access_actor& dht, const std::string& grid,
                   int rows, int cols, std::chrono::seconds limit) {
  return test::poll_until(
    [&] {
      if (dht::declared_children(system, dht, grid + ".") < static_cast<size_t>(rows))
        return false;
      for (int r = 0; r < rows; ++r)
        if (dht::declared_children(system, dht, grid + "." + std::to_string(r) + ".")
            < static_cast<size_t>(cols))
          return false;
      return true;
    },
    std::chrono::duration_cast<std::chrono::milliseconds>(limit), std::chrono::milliseconds(250));
}

}  // namespace dmoe::bench
