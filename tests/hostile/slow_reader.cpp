// The attacker of hostile.buffers, a process of its own: stores ITEMS items of VALUE_BYTES bytes
// under the key "big" of the node on 127.0.0.1:PORT, sends GETS gets of that key, prints "ready"
// once the first reply came (the gets reached the node), then waits to be stopped and killed.
//   dmoe-hostile-slow-reader PORT ITEMS VALUE_BYTES GETS
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/dht/client.hpp"
#include "actors/inspector/inspector.hpp"
#include "messages/type_ids.hpp"
#include "runtime/node_config.hpp"

int main(int argc, char** argv) {
  using namespace dmoe;
  if (argc != 5)
    return 2;
  auto port = static_cast<uint16_t>(std::stoul(argv[1]));
  auto items = std::stoul(argv[2]);
  auto value_bytes = std::stoul(argv[3]);
  auto gets = std::stoul(argv[4]);
  node_config cfg;
  if (cfg.parse_and_validate(std::vector<std::string>{}))
    return 2;
  caf::actor_system system{cfg};
  // Plain CAF, as any peer may: the node's replies to its gets come back as messages.
  auto dialed = system.middleman().remote_actor<inspector_actor>("127.0.0.1", port);
  if (!dialed)
    return 3;
  auto node = caf::actor_cast<dht::access_actor>(*dialed);
  for (size_t i = 0; i < items; ++i)
    if (!dht::store(system, node, "big", "s" + std::to_string(i), std::string(value_bytes, 'v'),
                    dht::wall_clock() + 600))
      return 4;
  caf::scoped_actor self{system};
  for (size_t i = 0; i < gets; ++i)
    self->send(node, dht::dht_get_atom::value, std::string{"big"});
  bool replied = false;
  self->receive([&](payload&, uint32_t, uint32_t) { replied = true; },
                [&](caf::error&) { replied = true; },
                caf::after(std::chrono::seconds(60)) >> [] {});
  if (!replied)
    return 6;
  std::puts("ready");
  std::fflush(stdout);
  for (;;)
    std::this_thread::sleep_for(std::chrono::seconds(1));
}
