// dmoe from C++ in one process: a DHT node, an expert server and a trainer, spawned as actors
// without any config file or network port. The same actors run across hosts when spawned by
// dmoe-node; only the endpoints differ ("host:port" there, in-process names here).
//   build/apps/dmoe-example [STEPS]     (default 300 training steps on Fashion-MNIST)
#include <cstdlib>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/dht/node.hpp"
#include "actors/moe/router.hpp"
#include "actors/server/server.hpp"
#include "actors/trainer/trainer.hpp"
#include "runtime/logging.hpp"
#include "runtime/node_config.hpp"

using namespace dmoe;

int main(int argc, char** argv) {
  node_config cfg;  // registers dmoe's message types
  if (auto err = cfg.parse_and_validate(std::vector<std::string>{}))
    return 2;
  log::setup("info");
  auto log = log::get("example");
  caf::actor_system system{cfg};
  caf::scoped_actor self{system};
  auto directory = std::make_shared<dht::local_directory>();  // endpoints living in this process

  // 1. A DHT node: the first (and only) node of its network.
  dht::node_setup dht_setup;
  dht_setup.directory = directory;
  auto dht_node = dht::spawn_node(system, dht_setup);
  self->request(dht_node, std::chrono::seconds(5), dht::dht_start_atom::value, "inproc:dht")
    .receive([](uint32_t) {}, [&](caf::error& err) { log->error("{}", describe(err)); });

  // 2. An expert server hosting a 4x4 grid of ffn experts, declared under "inproc:server".
  server_setup server;
  server.options.expert_pattern = "ffn.[0:4].[0:4]";
  server.options.hidden = 128;
  server.dht = dht_node;
  server.endpoint = "inproc:server";
  auto server_actor = try_spawn_server(system, server);
  if (!server_actor) {
    log->error("cannot start the server: {}", describe(server_actor.error()));
    return 1;
  }
  directory->put(server.endpoint, *server_actor);

  // 3. A trainer whose DMoE layer routes through a router that reads the same DHT.
  moe::router_setup router;
  router.options.grid = {4, 4};
  router.dht = dht_node;
  router.directory = directory;
  trainer_setup trainer;
  trainer.options.hidden = 128;
  trainer.options.max_steps = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 300;
  trainer.options.eval_every = 100;
  trainer.moe = router.options;
  trainer.router = moe::spawn_router(system, router);
  auto trainer_actor = spawn_trainer(system, trainer);

  // 4. Wait for the end of training and report.
  int rc = 1;
  self->request(trainer_actor, caf::infinite, trainer_wait_atom::value)
    .receive(
      [&](const trainer_metrics& result) {
        log->info("training ended: {}", caf::to_string(to_settings(result)));
        rc = result.state == "done" ? 0 : 1;
      },
      [&](caf::error& err) { log->error("{}", describe(err)); });
  self->send_exit(trainer_actor, caf::exit_reason::user_shutdown);
  self->send_exit(trainer.router, caf::exit_reason::user_shutdown);
  self->send_exit(*server_actor, caf::exit_reason::user_shutdown);
  self->send_exit(dht_node, caf::exit_reason::user_shutdown);
  return rc;
}
