// trainer.task = language-model: the DMoE Transformer (lm_model.hpp) on real text.
#include <chrono>
#include <cmath>
#include <thread>

#include <torch/nn/functional/loss.h>

#include "actors/trainer/lm_model.hpp"
#include "actors/trainer/lm_text.hpp"
#include "actors/trainer/tasks.hpp"

namespace dmoe {

namespace {

/// Held-out windows per forward through the swarm, and tries of one before giving up.
constexpr int64_t eval_windows_per_batch = 16;
constexpr int eval_attempts = 3;
constexpr auto eval_retry_pause = std::chrono::milliseconds(500);

class language_model_task : public training_task {
public:
  language_model_task(caf::actor_system& system, moe::router_actor router,
                      trainer_options options, moe_options moe, lm_text text)
    : system_(system),
      router_(std::move(router)),
      options_(std::move(options)),
      moe_(std::move(moe)),
      text_(std::move(text)) {
    for (const auto& p : make_model()->parameters())
      local_parameters_ += p.numel();
  }

  std::string description() const override {
    auto shape = shape_of(options_, *text_.tokenizer);
    return fmt::format(
      "a {} language model ({} blocks, width {}, {} heads, context {}; {} parameters here) on {}: "
      "{} training tokens ({} windows), {} validation and {} test tokens, vocabulary {}",
      options_.model == model_kind::dmoe ? "DMoE" : std::string{name_of(options_.model)},
      shape.layers, shape.hidden, shape.heads, shape.context, local_parameters_, text_.source,
      text_.train.size(0), examples(), text_.validation.size(0), text_.test.size(0),
      shape.vocab);
  }

  int64_t examples() const override {
    return windows(text_.train);
  }

  std::shared_ptr<torch::nn::Module> make_model() override {
    return LanguageModel{system_, router_, shape_of(options_, *text_.tokenizer), options_.model,
                         moe_}
      .ptr();
  }

  step_outcome step(torch::nn::Module& model, const torch::Tensor& indices) override {
    auto& lm = dynamic_cast<LanguageModelImpl&>(model);
    auto [inputs, targets] = window_batch(text_.train, indices);
    auto logits = lm.forward(inputs);
    step_outcome out;
    auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}),
                                                     targets.reshape({-1}));
    out.loss_value = loss.item<double>();
    out.examples = indices.size(0);
    out.tokens = targets.numel();
    if (options_.model == model_kind::dmoe) {
      auto balance = lm.balance_loss();
      out.balance = balance.item<double>();
      for (const auto& load : lm.expert_loads()) {
        auto mean = load.to(torch::kFloat64).mean().item<double>();
        if (mean > 0)
          out.load_peak = std::max(out.load_peak, load.max().item<double>() / mean);
      }
      loss = loss + options_.balance_weight * balance;
    }
    out.loss = loss;
    return out;
  }

  held_out_kind held_out() const override {
    return held_out_kind::bits_per_character;
  }

  std::optional<double> evaluate(torch::nn::Module& model, held_out_split split, size_t limit,
                                 const std::atomic<bool>& stop, spdlog::logger& log) override {
    auto& lm = dynamic_cast<LanguageModelImpl&>(model);
    const auto& tokens = split == held_out_split::test ? text_.test : text_.validation;
    auto n = windows(tokens);
    if (limit > 0)
      n = std::min<int64_t>(n, static_cast<int64_t>(limit));
    torch::NoGradGuard no_grad;
    lm.eval();
    double nats = 0;
    int64_t characters = 0;
    std::optional<double> out;
    for (int64_t begin = 0; begin < n && !stop; begin += eval_windows_per_batch) {
      auto indices = torch::arange(begin, std::min(n, begin + eval_windows_per_batch));
      auto [inputs, targets] = window_batch(tokens, indices);
      std::optional<double> batch_nats;
      for (int attempt = 1; attempt <= eval_attempts && !batch_nats && !stop; ++attempt) {
        try {
          auto logits = lm.forward(inputs);
          batch_nats = torch::nn::functional::cross_entropy(
                         logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}),
                         torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                         .item<double>();
        } catch (const std::exception& e) {
          log.warn("held-out windows {}..{} failed (attempt {} of {}): {}", begin,
                   begin + indices.size(0), attempt, eval_attempts, e.what());
          if (attempt < eval_attempts)
            std::this_thread::sleep_for(eval_retry_pause);
        }
      }
      if (!batch_nats) {
        lm.train();
        return std::nullopt;
      }
      nats += *batch_nats;
      characters += text_.characters_of(targets);
    }
    lm.train();
    if (stop || characters == 0)
      return std::nullopt;
    return nats / static_cast<double>(characters) / std::log(2.0);
  }

  model_tags tags() const override {
    return model_tags_of(options_, moe_, *text_.tokenizer);
  }

  bool computes_locally() const override {
    return options_.model != model_kind::dmoe;
  }

private:
  /// Windows of context + 1 tokens, `context` apart: each token but the first is predicted once.
  int64_t windows(const torch::Tensor& tokens) const {
    return std::max<int64_t>(0, (tokens.size(0) - 1) / options_.context);
  }

  /// The inputs [B, T] and targets [B, T] of windows `indices` of `tokens`.
  std::pair<torch::Tensor, torch::Tensor> window_batch(const torch::Tensor& tokens,
                                                       const torch::Tensor& indices) const {
    auto t = static_cast<int64_t>(options_.context);
    auto offsets = indices.unsqueeze(1) * t + torch::arange(t + 1).unsqueeze(0);  // [B, T + 1]
    auto window = tokens.index_select(0, offsets.reshape({-1})).view({indices.size(0), t + 1});
    return {window.slice(1, 0, t), window.slice(1, 1, t + 1)};
  }

  caf::actor_system& system_;
  moe::router_actor router_;
  trainer_options options_;
  moe_options moe_;
  lm_text text_;
  int64_t local_parameters_ = 0;  // the trainer's own: embeddings, attention, norms, gates
};

}  // namespace

caf::expected<std::unique_ptr<training_task>>
make_language_model_task(caf::actor_system& system, moe::router_actor router,
                         const trainer_options& options, const moe_options& moe,
                         spdlog::logger& log) {
  auto text = load_lm_text(options, log);
  if (!text)
    return text.error();
  if (text->train.size(0) <= static_cast<int64_t>(options.context)
      || text->validation.size(0) <= static_cast<int64_t>(options.context)
      || text->test.size(0) <= static_cast<int64_t>(options.context))
    return make_error(errc::invalid_argument,
                      fmt::format("the text of {} is too short for trainer.context = {} tokens: "
                                  "{} training, {} validation, {} test tokens",
                                  text->source, options.context, text->train.size(0),
                                  text->validation.size(0), text->test.size(0)));
  return std::unique_ptr<training_task>{
    new language_model_task(system, std::move(router), options, moe, std::move(*text))};
}

}  // namespace dmoe
