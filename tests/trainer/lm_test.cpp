// trainer.language_model: the language model's pieces without a swarm - the text splits (held-out
// text never in training), the tokenizer (exact round trips, cached, characters counted), bad
// text files refused with the file named, the model causal and its balance loss, and the whole
// training loop on a small text with the dense stand-in (no router) learning: bits per character
// fall well below those of a uniform guess.
#define CAF_SUITE trainer.language_model
#include <caf/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <torch/types.h>

#include "actors/trainer/lm_model.hpp"
#include "actors/trainer/lm_sampling.hpp"
#include "actors/trainer/lm_text.hpp"
#include "actors/trainer/trainer_checkpoint.hpp"
#include "actors/trainer/training_loop.hpp"
#include "messages/errors.hpp"
#include "runtime/data/text_corpus.hpp"
#include "runtime/data/tokenizer.hpp"
#include "runtime/logging.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;

namespace {

/// A small text of `documents` paragraphs that repeat a few sentences (learnable quickly).
std::string small_text(int documents) {
  const char* sentences[] = {"And God said, Let there be light: and there was light.",
                             "The earth was without form, and void.",
                             "And the evening and the morning were the first day.",
                             "And God saw the light, that it was good."};
  std::string out;
  for (int d = 0; d < documents; ++d) {
    for (int line = 0; line < 4; ++line)
      out += std::to_string(line + 1) + " " + sentences[(d + line) % 4] + "\n";
    out += "\n";
  }
  return out;
}

std::string write_file(const std::string& dir, const std::string& name, const std::string& text) {
  auto path = dir + "/" + name;
  std::ofstream{path, std::ios::binary} << text;
  return path;
}

}  // namespace

CAF_TEST(held-out documents never reach the training text) {
  std::string text;
  for (int d = 0; d < 100; ++d)
    text += "document " + std::to_string(d) + " line one\nline two of " + std::to_string(d) + "\n\n";
  auto splits = data::split_text(text, "test");
  CAF_CHECK_EQUAL(splits.documents, 100u);
  for (int d = 0; d < 100; ++d) {
    auto marker = "document " + std::to_string(d) + " line";
    int places = (splits.train.find(marker) != std::string::npos)
                 + (splits.validation.find(marker) != std::string::npos)
                 + (splits.test.find(marker) != std::string::npos);
    CAF_CHECK_EQUAL(places, 1);
    if (d % 20 == 10)
      CAF_CHECK_NOT_EQUAL(splits.validation.find(marker), std::string::npos);
    if (d % 20 == 19)
      CAF_CHECK_NOT_EQUAL(splits.test.find(marker), std::string::npos);
  }
  // A text of few paragraphs is cut into chunks at line ends first.
  std::string one_paragraph;
  for (int line = 0; line < 5000; ++line)
    one_paragraph += "line " + std::to_string(line) + " of a text without blank lines\n";
  auto chunked = data::split_text(one_paragraph, "test");
  CAF_CHECK_GREATER_OR_EQUAL(chunked.documents, data::min_documents);
  CAF_CHECK(!chunked.validation.empty() && !chunked.test.empty());
  CAF_CHECK_EQUAL(chunked.validation.back(), '\n');
}

CAF_TEST(a text file that is missing empty or not UTF-8 is refused naming the file) {
  auto dir = test::temp_dir("lm-text");
  CAF_CHECK(data::is_valid_utf8("plain, accented \xc3\xa9 and \xe2\x82\xac and \xf0\x9f\x98\x80"));
  size_t at = 0;
  CAF_CHECK(!data::is_valid_utf8("ok \xc3", &at));
  CAF_CHECK_EQUAL(at, 3u);
  CAF_CHECK(!data::is_valid_utf8("\xc0\xaf overlong", &at));
  CAF_CHECK(!data::is_valid_utf8("\xed\xa0\x80 surrogate", &at));
  CAF_CHECK_EQUAL(data::count_characters("a\xc3\xa9\xe2\x82\xac\n"), 4u);
  for (auto [path, why] : {std::pair{dir + "/missing.txt", "cannot be read"},
                           std::pair{write_file(dir, "empty.txt", ""), "is empty"},
                           std::pair{write_file(dir, "latin1.txt", "caf\xe9\n"),
                                     "not UTF-8 text (an invalid byte at offset 3)"}}) {
    auto read = data::read_text_file(path);
    CAF_REQUIRE(!read);
    CAF_MESSAGE(describe(read.error()));
    CAF_CHECK_NOT_EQUAL(describe(read.error()).find(path), std::string::npos);
    CAF_CHECK_NOT_EQUAL(describe(read.error()).find(why), std::string::npos);
  }
  auto short_text = write_file(dir, "short.txt", "one line\n");
  auto splits = data::load_text_splits(short_text);
  CAF_REQUIRE(!splits);
  CAF_CHECK_NOT_EQUAL(describe(splits.error()).find("too short"), std::string::npos);
}

CAF_TEST(the tokenizer round trips any text and is trained once per text and settings) {
  auto dir = test::temp_dir("lm-tokenizer");
  data::tokenizer_settings settings{600, dir};
  auto training = small_text(60) + "Numbers 1234 and   spaces, tabs\tand unicode \xc3\xa9\xe2\x82\xac.\n";
  auto first = data::tokenizer::train_or_load(training, settings);
  CAF_REQUIRE(first);
  auto second = data::tokenizer::train_or_load(training, settings);
  CAF_REQUIRE(second);
  CAF_CHECK_EQUAL((*first)->model_path(), (*second)->model_path());
  CAF_CHECK_EQUAL((*first)->fingerprint(), (*second)->fingerprint());
  // Trained again elsewhere (as two trainers starting together each train it): SentencePiece
  // writes its own file names into the model, yet it is the same tokenizer, fingerprint and all.
  auto elsewhere_dir = test::temp_dir("lm-tokenizer-elsewhere");
  auto elsewhere = data::tokenizer::train_or_load(training, {600, elsewhere_dir});
  CAF_REQUIRE(elsewhere);
  CAF_CHECK_EQUAL((*elsewhere)->fingerprint(), (*first)->fingerprint());
  CAF_CHECK_LESS_OR_EQUAL((*first)->vocab_size(), 601);
  CAF_CHECK_GREATER((*first)->vocab_size(), 300);
  for (std::string text : {training, std::string{"\n\nleading newlines, trailing spaces  \n"},
                           std::string{"unseen characters \xce\xb1\xce\xb2 \xf0\x9f\x98\x80 and \xe4\xb8\xad"},
                           std::string{"no newline at the end"}}) {
    auto ids = (*first)->encode(text);
    CAF_CHECK_EQUAL((*first)->decode(ids), text);
    int64_t characters = 0;
    for (auto id : ids) {
      CAF_CHECK(id >= 0 && id < (*first)->vocab_size());
      characters += (*first)->characters(id);
    }
    CAF_CHECK_EQUAL(characters, static_cast<int64_t>(data::count_characters(text)));
  }
  CAF_CHECK_LESS((*first)->encode(training).size(), training.size() / 2);  // it merged pieces
  // Another text makes other merges: another tokenizer. (Another vocabulary size need not:
  // this small text runs out of merges at 497 pieces whether 600 or 700 are asked for.)
  std::string other_text = training;
  for (int i = 0; i < 20; ++i)
    other_text += "Zebras quickly vexed the jumping wizards of xylophone quartz.\n";
  auto third = data::tokenizer::train_or_load(other_text, settings);
  CAF_REQUIRE(third);
  CAF_CHECK_NOT_EQUAL((*third)->model_path(), (*first)->model_path());
  CAF_CHECK_NOT_EQUAL((*third)->fingerprint(), (*first)->fingerprint());
  data::tokenizer_settings too_small{100, dir};
  CAF_CHECK(!data::tokenizer::train_or_load(training, too_small));
}

CAF_TEST(the model is causal and its balance loss is one for an even spread) {
  caf::actor_system_config cfg;
  caf::actor_system system{cfg};
  lm_shape shape{50, 16, 32, 2, 4};
  moe_options moe;
  moe.grid = {2, 2};
  moe.k_best = 2;
  torch::manual_seed(1);
  LanguageModel model{system, moe::router_actor{}, shape, model_kind::dense, moe};
  auto tokens = torch::randint(0, 50, {3, 16}, torch::kInt64);
  auto logits = model->forward(tokens);
  CAF_CHECK_EQUAL(logits.sizes().vec(), (std::vector<int64_t>{3, 16, 50}));
  auto changed = tokens.clone();
  changed.index_put_({torch::indexing::Slice(), 10}, (tokens.select(1, 10) + 1) % 50);
  auto again = model->forward(changed);
  // Positions before 10 do not see token 10; position 10 and later do.
  CAF_CHECK(torch::allclose(logits.slice(1, 0, 10), again.slice(1, 0, 10)));
  CAF_CHECK(!torch::allclose(logits.slice(1, 10, 16), again.slice(1, 10, 16)));
  CAF_CHECK_EQUAL(model->balance_loss().item<double>(), 0.0);  // no DMoE layer
  // The share of tokens per expert from an even gate: G * sum(1/G * 1/G) = 1.
  auto uniform = torch::full({8}, 1.0 / 8);
  CAF_CHECK_LESS(std::abs((8 * (uniform * uniform).sum()).item<double>() - 1.0), 1e-6);
}

CAF_TEST(the training loop learns a small text with the dense stand-in and samples from it) {
  log::setup("warn");
  auto dir = test::temp_dir("lm-loop");
  auto text_file = write_file(dir, "text.txt", small_text(200));
  caf::actor_system_config cfg;
  caf::actor_system system{cfg};
  trainer_setup setup;
  setup.name = "lm-test";
  setup.options.task = task_kind::language_model;
  setup.options.model = model_kind::dense;  // no router: the whole model is local
  setup.options.text_file = text_file;
  setup.options.cache_dir = dir + "/cache";
  setup.options.vocab_size = 600;
  setup.options.context = 32;
  setup.options.hidden = 32;
  setup.options.heads = 2;
  setup.options.moe_layers = 2;
  setup.options.batch_size = 8;
  setup.options.learning_rate = 3e-3;
  setup.options.epochs = 0;
  setup.options.max_steps = 150;
  setup.options.eval_every = 1000;
  setup.options.seed = 3;
  setup.options.checkpoint_dir = dir + "/checkpoint";
  setup.options.metrics_csv = dir + "/metrics.csv";
  setup.moe.grid = {2, 2};
  setup.moe.k_best = 1;
  training_loop loop{system, setup};
  std::atomic<bool> stop{false};
  loop.run(stop);
  auto m = loop.metrics();
  CAF_REQUIRE_EQUAL(m.state, "done");
  CAF_MESSAGE("after " << m.step << " steps: loss " << m.loss << ", held-out " << m.held_out_bpc
                       << " bits per character, test text " << m.test_bpc << ", " << m.tokens
                       << " tokens");
  CAF_CHECK_EQUAL(m.step, 150u);
  CAF_CHECK_EQUAL(m.tokens, m.samples * 32);  // every sequence predicts 32 tokens
  CAF_CHECK_GREATER_OR_EQUAL(m.samples, 149u * 8);  // an epoch's last batch may be smaller
  // A uniform guess over 601 tokens costs log2(601) / (characters per token) bits per
  // character; a repetitive text is learnt far below that within 150 steps.
  CAF_CHECK_GREATER(m.held_out_bpc, 0.0);
  CAF_CHECK_LESS(m.held_out_bpc, 1.5);
  CAF_CHECK_GREATER(m.test_bpc, 0.0);
  CAF_CHECK_LESS(m.test_bpc, 1.5);
  auto csv = test::read_file(dir + "/metrics.csv");
  CAF_CHECK_EQUAL(csv.rfind("time_s,step,epoch,tokens,loss,held_out_bpc", 0), 0u);
  // The checkpoint says what it holds, and the model loads from it and writes the text's words.
  auto checkpoint = dir + "/checkpoint/trainer.pt";
  auto tags = read_checkpoint_tags(checkpoint);
  CAF_REQUIRE(tags);
  CAF_CHECK_EQUAL(tag(*tags, "task"), "language-model");
  CAF_CHECK_EQUAL(tag(*tags, "context"), "32");
  auto tokenizer = data::tokenizer::load(tag(*tags, "tokenizer_path"));
  CAF_REQUIRE(tokenizer);
  CAF_CHECK_EQUAL((*tokenizer)->fingerprint(), tag(*tags, "tokenizer"));
  lm_shape shape{(*tokenizer)->vocab_size(), 32, 32, 2, 2};
  LanguageModel model{system, moe::router_actor{}, shape, model_kind::dense, setup.moe};
  CAF_REQUIRE(!load_checkpoint_parameters(checkpoint, *model));
  sampling_options sampling;
  sampling.tokens = 40;
  sampling.temperature = 0.5;
  auto words = (*tokenizer)->decode(sample_tokens(*model, (*tokenizer)->encode("And God"), sampling));
  CAF_MESSAGE("sampled: " << words);
  size_t known = 0;  // words of the text it learnt
  for (auto word : {"light", "day", "earth", "God", "there", "form", "evening", "void", "morning"})
    known += words.find(word) != std::string::npos;
  CAF_CHECK_GREATER_OR_EQUAL(known, 2u);
  // A checkpoint of another shape is refused by name.
  setup.options.context = 16;
  setup.options.max_steps = 160;
  training_loop other{system, setup};
  other.run(stop);
  auto refused = other.metrics();
  CAF_CHECK_EQUAL(refused.state, "failed");
  CAF_CHECK_NOT_EQUAL(refused.error.find("context is 32 there, 16 here"), std::string::npos);
}
