// The tasks a trainer can train (task.hpp), one file each.
#pragma once

#include <memory>

#include <caf/expected.hpp>
#include <fmt/format.h>

#include "actors/trainer/task.hpp"
#include "messages/errors.hpp"

namespace dmoe {

/// trainer.task = fashion-mnist (classifier_task.cpp).
caf::expected<std::unique_ptr<training_task>>
make_classifier_task(caf::actor_system& system, moe::router_actor router,
                     const trainer_options& options, const moe_options& moe);

/// trainer.task = language-model (lm_task.cpp).
caf::expected<std::unique_ptr<training_task>>
make_language_model_task(caf::actor_system& system, moe::router_actor router,
                         const trainer_options& options, const moe_options& moe,
                         spdlog::logger& log);

}  // namespace dmoe
