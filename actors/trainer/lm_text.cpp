#include "actors/trainer/lm_text.hpp"

#include <chrono>

#include <fmt/format.h>

#include "runtime/data/text_corpus.hpp"

namespace dmoe {

namespace {

torch::Tensor to_tensor(const std::vector<int64_t>& ids) {
  return torch::from_blob(const_cast<int64_t*>(ids.data()), {static_cast<int64_t>(ids.size())},
                          torch::kInt64)
    .clone();
}

}  // namespace

caf::expected<lm_text> load_lm_text(const trainer_options& options, spdlog::logger& log) {
  auto started = std::chrono::steady_clock::now();
  auto splits = data::load_text_splits(options.text_file);
  if (!splits)
    return splits.error();
  data::tokenizer_settings settings;
  settings.vocab_size = options.vocab_size;
  settings.cache_dir = options.cache_dir;
  auto tokenizer = data::tokenizer::train_or_load(splits->train, settings);
  if (!tokenizer)
    return tokenizer.error();
  lm_text out;
  out.source = splits->source;
  out.tokenizer = *tokenizer;
  out.train = to_tensor((*tokenizer)->encode(splits->train));
  out.validation = to_tensor((*tokenizer)->encode(splits->validation));
  out.test = to_tensor((*tokenizer)->encode(splits->test));
  std::vector<int64_t> characters;
  for (int64_t id = 0; id < (*tokenizer)->vocab_size(); ++id)
    characters.push_back((*tokenizer)->characters(id));
  out.characters = to_tensor(characters);
  log.info("text: {} ({} documents; {} / {} / {} characters for training / validation / test); "
           "tokenizer {} ({} tokens, {:.2f} characters per token); ready in {:.1f} s",
           out.source, splits->documents, data::count_characters(splits->train),
           data::count_characters(splits->validation), data::count_characters(splits->test),
           (*tokenizer)->model_path(), (*tokenizer)->vocab_size(),
           static_cast<double>(data::count_characters(splits->train))
             / static_cast<double>(std::max<int64_t>(1, out.train.size(0))),
           std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return out;
}

lm_shape shape_of(const trainer_options& options, const data::tokenizer& tokenizer) {
  lm_shape shape;
  shape.vocab = tokenizer.vocab_size();
  shape.context = static_cast<int64_t>(options.context);
  shape.hidden = options.hidden;
  shape.layers = static_cast<int64_t>(options.moe_layers);
  shape.heads = static_cast<int64_t>(options.heads);
  return shape;
}

model_tags model_tags_of(const trainer_options& options, const moe_options& moe,
                         const data::tokenizer& tokenizer) {
  auto shape = shape_of(options, tokenizer);
  std::string grid;
  for (auto d : moe.grid)
    grid += (grid.empty() ? "" : "x") + std::to_string(d);
  return {{"task", "language-model"},
          {"model", std::string{name_of(options.model)}},
          {"vocab", std::to_string(shape.vocab)},
          {"context", std::to_string(shape.context)},
          {"hidden", std::to_string(shape.hidden)},
          {"layers", std::to_string(shape.layers)},
          {"heads", std::to_string(shape.heads)},
          {"grid", grid},
          {"k_best", std::to_string(moe.k_best)},
          {"expert_prefix", moe.expert_prefix},
          {"routing", std::string{name_of(moe.routing)}},
          {"tokenizer", tokenizer.fingerprint()},
          {"tokenizer_path", tokenizer.model_path()}};
}

std::string tag(const model_tags& tags, const std::string& name) {
  for (const auto& [key, value] : tags)
    if (key == name)
      return value;
  return {};
}

}  // namespace dmoe
