// Text from a trained language model: tokens sampled one at a time after a prompt, each from the
// model's next-token distribution (temperature, then the top_k most likely), the experts called
// through the swarm like in training.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "actors/trainer/lm_model.hpp"

namespace dmoe {

struct sampling_options {
  int64_t tokens = 200;       // to sample
  double temperature = 0.8;   // > 0; lower: more likely tokens
  int64_t top_k = 40;         // sample among this many most likely (0: all)
  uint64_t seed = 1;
};

/// `options.tokens` tokens after `prompt` (at least one token). The model sees at most its
/// context of the latest tokens; `on_token` sees each token as it comes. Throws moe_call_error
/// when the swarm cannot answer a step.
std::vector<int64_t> sample_tokens(LanguageModelImpl& model, const std::vector<int64_t>& prompt,
                                   const sampling_options& options,
                                   const std::function<void(int64_t)>& on_token = {});

}  // namespace dmoe
