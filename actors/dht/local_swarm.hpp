// An in-process swarm of DHT nodes on a real (threaded) actor system, for tests and benchmarks:
// nodes find each other through a local_directory instead of TCP.
#pragma once

#include <atomic>
#include <memory>
#include <random>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/dht/client.hpp"
#include "actors/dht/node.hpp"

namespace dmoe::dht {

struct local_swarm {
  caf::actor_system& system;
  std::shared_ptr<local_directory> directory = std::make_shared<local_directory>();
  std::shared_ptr<std::atomic<double>> clock_offset = std::make_shared<std::atomic<double>>(0.0);
  std::vector<node_actor> nodes;
  std::vector<bool> alive;
  std::mt19937_64 rng{2024};

  local_swarm(caf::actor_system& sys, size_t count, dht_options options) : system(sys) {
    caf::scoped_actor self{system};
    for (size_t i = 0; i < count; ++i) {
      node_setup setup;
      setup.name = "dht-" + std::to_string(i);
      setup.options = options;
      if (i > 0)
        setup.options.bootstrap = {endpoint(0), endpoint(rng() % i)};
      setup.directory = directory;
      auto offset = clock_offset;
      setup.clock = [offset] { return wall_clock() + offset->load(); };
      setup.seed = rng();
      nodes.push_back(spawn_node(system, std::move(setup)));
      alive.push_back(true);
      self->request(nodes.back(), std::chrono::seconds(30), dht_start_atom::value, endpoint(i))
        .receive([](uint32_t) {}, [](caf::error&) {});
    }
  }

  ~local_swarm() {
    for (auto& n : nodes)
      caf::anon_send_exit(n, caf::exit_reason::user_shutdown);
  }

  static std::string endpoint(size_t i) {
    return "inproc:" + std::to_string(i);
  }

  double now() const {
    return wall_clock() + clock_offset->load();
  }

  size_t random_alive() {
    for (;;) {
      auto i = rng() % nodes.size();
      if (alive[i])
        return i;
    }
  }

  /// Kills `fraction` of the living nodes at random, without goodbye.
  size_t kill(double fraction) {
    size_t living = std::count(alive.begin(), alive.end(), true);
    auto victims = static_cast<size_t>(living * fraction);
    for (size_t n = 0; n < victims; ++n) {
      auto i = random_alive();
      caf::anon_send_exit(nodes[i], caf::exit_reason::kill);
      alive[i] = false;
    }
    return victims;
  }

  /// Every living node runs a replication pass; returns when all are done.
  void replicate_everywhere() {
    caf::scoped_actor self{system};
    for (size_t i = 0; i < nodes.size(); ++i)
      if (alive[i])
        self->request(nodes[i], std::chrono::seconds(60), dht_replicate_atom::value)
          .receive([](uint32_t) {}, [](caf::error&) {});
  }
};

}  // namespace dmoe::dht
