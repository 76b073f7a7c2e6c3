// Helpers of the benchmarks that run real dmoe processes: where the other binaries are, stopping
// the processes a benchmark started, and a DHT node of the benchmark's own process.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/dht/node.hpp"
#include "tests/process_util.hpp"

namespace dmoe::bench {

/// The directory of this executable (dmoe-node and dmoe-link are built next to it).
std::string own_dir();

/// Ctrl-C or SIGTERM kills the processes the benchmark launched before this process ends, so
/// an interrupted run leaves nothing behind.
void stop_launched_on_signals();

/// SIGTERM, then SIGKILL after 5 s, for every process still running; waits for each.
void stop_all(std::vector<test::process>& procs);

/// A DHT node in this process that joins through `bootstrap`. It tells peers no endpoint: they
/// never dial this process, so every byte between it and the swarm goes over connections it
/// opens itself (through the links a benchmark puts in front of the servers).
dht::node_actor start_client_dht(caf::actor_system& system, const std::string& name,
                            const std::string& bootstrap);

/// Polls the DHT until `rows` grid rows "<grid>.<r>." each declare `cols` experts, up to
/// `limit`; false when they did not.
bool wait_declared(caf::actor_system& system, const dht::access_actor& dht, const std::string& grid,
                   int rows, int cols, std::chrono::seconds limit);

}  // namespace dmoe::bench
