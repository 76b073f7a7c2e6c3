// What a trainer trains (trainer.task): the data, the model, the loss and the held-out measure.
// The training loop (training_loop.hpp) is the same for every task: it draws batches of example
// indices, asks the task for each batch's loss on a replica of the model, applies the gradients
// to the shared parameters and asks the task to evaluate now and then.
//   fashion-mnist:  the DMoE classifier (model.hpp) on Fashion-MNIST; held out: test accuracy.
//   language-model: the DMoE Transformer (lm_model.hpp) on real text (runtime/data/text_corpus,
//                   tokenizer); held out: bits per character of the validation text, and of
//                   the test text once at the end.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <spdlog/logger.h>
#include <torch/nn/module.h>

#include "actors/moe/router.hpp"
#include "runtime/options.hpp"

namespace dmoe {

/// One training step's result on one batch.
struct step_outcome {
  torch::Tensor loss;      // to backpropagate (the task's loss plus auxiliary terms)
  double loss_value = 0;   // the task's loss alone
  double accuracy = -1;    // the batch's classification accuracy; -1: none
  double balance = -1;     // the DMoE layers' load-balancing loss; -1: none
  double load_peak = -1;   // the busiest expert's tokens over the mean expert's (worst layer)
  int64_t examples = 0;    // images or sequences
  int64_t tokens = 0;      // tokens predicted; 0: none
};

enum class held_out_kind { accuracy, bits_per_character };
enum class held_out_split { validation, test };

/// What a model records in its checkpoints and must match when one is loaded: the task, the
/// shape, the tokenizer (name, value pairs).
using model_tags = std::vector<std::pair<std::string, std::string>>;

class training_task {
public:
  virtual ~training_task() = default;

  /// One line for the log: the data and the model.
  virtual std::string description() const = 0;

  /// Examples (images, sequences) in one epoch of the training data.
  virtual int64_t examples() const = 0;

  /// A fresh replica of the model (the shared parameters are copied into it).
  virtual std::shared_ptr<torch::nn::Module> make_model() = 0;

  /// The loss of the batch of training examples `indices` on `model` (not backpropagated yet).
  virtual step_outcome step(torch::nn::Module& model, const torch::Tensor& indices) = 0;

  virtual held_out_kind held_out() const = 0;

  /// The held-out measure of `model` on `split`, over at most `limit` examples (0: all); nullopt
  /// when a batch failed again and again or `stop` was set.
  virtual std::optional<double> evaluate(torch::nn::Module& model, held_out_split split,
                                         size_t limit, const std::atomic<bool>& stop,
                                         spdlog::logger& log) = 0;

  virtual model_tags tags() const = 0;

  /// True when the model computes everything locally (the dense baselines): it gets every core.
  virtual bool computes_locally() const = 0;
};

/// The task trainer.task names, with its data loaded; an error naming what is missing or bad.
caf::expected<std::unique_ptr<training_task>>
make_task(caf::actor_system& system, moe::router_actor router, const trainer_options& options,
          const moe_options& moe, spdlog::logger& log);

}  // namespace dmoe
