#include "actors/trainer/tasks.hpp"

namespace dmoe {

caf::expected<std::unique_ptr<training_task>>
make_task(caf::actor_system& system, moe::router_actor router, const trainer_options& options,
          const moe_options& moe, spdlog::logger& log) {
  switch (options.task) {
    case task_kind::fashion_mnist:
      return make_classifier_task(system, std::move(router), options, moe);
    case task_kind::language_model:
      return make_language_model_task(system, std::move(router), options, moe, log);
  }
  return make_error(errc::invalid_argument, "unknown trainer.task");
}

}  // namespace dmoe
