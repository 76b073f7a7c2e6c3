// The language model's tokenizer (no LibTorch): SentencePiece BPE (Debian's
// libsentencepiece-dev), trained on the training text on first use and cached under its
// settings, so every trainer of a swarm given the same text and settings gets the same one.
//
// Lines are encoded one at a time with a newline token between them, with SentencePiece's
// identity normalization, no added whitespace and byte fallback: decode(encode(t)) == t for any
// UTF-8 text, so bits per character can be counted over the raw text, newlines included.
// SentencePiece runs in a module of its own (spm_module.cpp) that the first tokenizer loads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace dmoe::data {

struct spm_module;  // tokenizer.cpp: SentencePiece, loaded apart from LibTorch

constexpr int64_t min_vocab_size = 512;    // 256 byte pieces and room for merges
constexpr int64_t max_vocab_size = 65536;

struct tokenizer_settings {
  int64_t vocab_size = 4096;  // SentencePiece's pieces at most (fewer when the text has no
                              // more); the newline token comes on top
  std::string cache_dir;      // where trained tokenizers are kept
};

class tokenizer {
public:
  ~tokenizer();

  /// The cached tokenizer of `training_text` under `settings`, trained first when there is none
  /// (about a second for the King James Bible's training text).
  static caf::expected<std::shared_ptr<const tokenizer>>
  train_or_load(const std::string& training_text, const tokenizer_settings& settings);

  /// A tokenizer from its SentencePiece model file.
  static caf::expected<std::shared_ptr<const tokenizer>> load(const std::string& model_path);

  std::vector<int64_t> encode(std::string_view text) const;
  std::string decode(const std::vector<int64_t>& ids) const;

  /// Ids are 0 .. vocab_size() - 1; the last one is the newline.
  int64_t vocab_size() const {
    return static_cast<int64_t>(char_counts_.size());
  }
  int64_t newline_id() const {
    return vocab_size() - 1;
  }

  /// The characters token `id` stands for in decoded text (a byte-fallback piece counts the
  /// character it starts: 1 for a leading byte, 0 for a continuation byte).
  int64_t characters(int64_t id) const {
    return char_counts_.at(static_cast<size_t>(id));
  }

  /// A hash of the vocabulary (every piece in id order, which for BPE is also the order of its
  /// merges): checkpoints record it, so a model is never used with another tokenizer. Not of
  /// the file: SentencePiece writes the training's own file names into it, so two trainers
  /// that trained the same tokenizer at once wrote files that differ.
  const std::string& fingerprint() const {
    return fingerprint_;
  }
  const std::string& model_path() const {
    return model_path_;
  }

private:
  tokenizer() = default;

  std::shared_ptr<const spm_module> spm_;
  void* handle_ = nullptr;
  std::vector<int64_t> char_counts_;
  std::string fingerprint_;
  std::string model_path_;
};

}  // namespace dmoe::data
