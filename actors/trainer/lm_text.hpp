// The language model's text as token tensors, with the tokenizer that made them, and the model
// settings that must agree with them (shared by the language-model task and dmoe-generate).
#pragma once

#include <memory>
#include <string>

#include <caf/expected.hpp>
#include <spdlog/logger.h>
#include <torch/types.h>

#include "actors/trainer/lm_model.hpp"
#include "actors/trainer/task.hpp"
#include "runtime/data/tokenizer.hpp"
#include "runtime/options.hpp"

namespace dmoe {

struct lm_text {
  std::string source;
  std::shared_ptr<const data::tokenizer> tokenizer;
  torch::Tensor train;        // int64 token ids
  torch::Tensor validation;
  torch::Tensor test;
  torch::Tensor characters;   // [vocab] int64: characters each token stands for

  /// The characters of the text the tokens `ids` decode to.
  int64_t characters_of(const torch::Tensor& ids) const {
    return characters.index_select(0, ids.reshape({-1})).sum().item<int64_t>();
  }
};

/// The text trainer.text-file names (the King James Bible when empty), split, its tokenizer
/// trained on the training text (or loaded from trainer.cache-dir), and all three splits
/// encoded.
caf::expected<lm_text> load_lm_text(const trainer_options& options, spdlog::logger& log);

/// The model's shape from the trainer's options and the tokenizer's vocabulary.
lm_shape shape_of(const trainer_options& options, const data::tokenizer& tokenizer);

/// What a language model's checkpoint records: task, model kind, shape, grid and tokenizer.
model_tags model_tags_of(const trainer_options& options, const moe_options& moe,
                         const data::tokenizer& tokenizer);

/// The value of `name` in `tags`; empty when absent.
std::string tag(const model_tags& tags, const std::string& name);

}  // namespace dmoe
