#include "actors/trainer/lm_sampling.hpp"

#include <algorithm>
#include <limits>

#include <ATen/CPUGeneratorImpl.h>

namespace dmoe {

std::vector<int64_t> sample_tokens(LanguageModelImpl& model, const std::vector<int64_t>& prompt,
                                   const sampling_options& options,
                                   const std::function<void(int64_t)>& on_token) {
  TORCH_CHECK(!prompt.empty(), "sampling needs a prompt of at least one token");
  TORCH_CHECK(options.temperature > 0, "the sampling temperature must be positive");
  torch::NoGradGuard no_grad;
  model.eval();
  auto generator = at::detail::createCPUGenerator(options.seed);
  auto context = model.shape().context;
  std::vector<int64_t> tokens = prompt;
  std::vector<int64_t> out;
  for (int64_t i = 0; i < options.tokens; ++i) {
    auto begin = tokens.size() > static_cast<size_t>(context) ? tokens.size() - context : 0;
    std::vector<int64_t> window(tokens.begin() + static_cast<ptrdiff_t>(begin), tokens.end());
    auto input = torch::tensor(window, torch::kInt64).unsqueeze(0);
    auto logits = model.forward(input).select(1, input.size(1) - 1).squeeze(0);  // [V]
    logits = logits / options.temperature;
    if (options.top_k > 0 && options.top_k < logits.size(0)) {
      auto kth = std::get<0>(logits.topk(options.top_k)).min();
      logits = logits.masked_fill(logits < kth, -std::numeric_limits<float>::infinity());
    }
    auto next = torch::multinomial(torch::softmax(logits, 0), 1, false, generator).item<int64_t>();
    tokens.push_back(next);
    out.push_back(next);
    if (on_token)
      on_token(next);
  }
  model.train();
  return out;
}

}  // namespace dmoe
