#include "runtime/data/tokenizer.hpp"

#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <unistd.h>

#include <fmt/format.h>

#include "messages/errors.hpp"
#include "messages/expert_pattern.hpp"
#include "runtime/data/text_corpus.hpp"

namespace dmoe::data {

/// The functions of spm_module.cpp, loaded once per process.
struct spm_module {
  int (*train)(const char*, char*, size_t) = nullptr;
  void* (*load)(const char*, char*, size_t) = nullptr;
  void (*free)(void*) = nullptr;
  int (*pieces)(void*) = nullptr;
  long (*piece)(void*, int, char*, size_t, int*) = nullptr;
  long (*encode)(void*, const char*, size_t, int*, size_t) = nullptr;
  long (*decode)(void*, const int*, size_t, char*, size_t) = nullptr;
};

namespace {

caf::expected<std::shared_ptr<const spm_module>> spm() {
  static std::mutex mtx;
  static std::shared_ptr<const spm_module> loaded;
  std::lock_guard<std::mutex> guard{mtx};
  if (loaded)
    return loaded;
  // A link namespace of its own: SentencePiece's copy of protobuf, not LibTorch's
  // (spm_module.cpp).
  auto* lib = dlmopen(LM_ID_NEWLM, DMOE_SPM_MODULE, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr)
    return make_error(errc::not_found, std::string{"cannot load the tokenizer module: "} + dlerror());
  auto m = std::make_shared<spm_module>();
  auto bind = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
    return fn != nullptr;
  };
  if (!bind(m->train, "dmoe_spm_train") || !bind(m->load, "dmoe_spm_load")
      || !bind(m->free, "dmoe_spm_free") || !bind(m->pieces, "dmoe_spm_pieces")
      || !bind(m->piece, "dmoe_spm_piece") || !bind(m->encode, "dmoe_spm_encode")
      || !bind(m->decode, "dmoe_spm_decode"))
    return make_error(errc::internal, "the tokenizer module " DMOE_SPM_MODULE " lacks a function");
  loaded = std::move(m);
  return loaded;
}

/// SentencePiece's options: BPE over the text as it is (identity normalization, no whitespace
/// added or removed, every character kept, unknown bytes as byte pieces), one thread so the same
/// text always gives the same tokenizer; fewer pieces than asked when the text has no more.
std::string trainer_arguments(const std::string& input, const std::string& prefix,
                              int64_t vocab_size) {
  return fmt::format("--input={} --model_prefix={} --vocab_size={} --model_type=bpe "
                     "--character_coverage=1.0 --byte_fallback=true "
                     "--normalization_rule_name=identity --remove_extra_whitespaces=false "
                     "--add_dummy_prefix=false --split_digits=true --num_threads=1 "
                     "--max_sentence_length=1048576 --shuffle_input_sentence=false "
                     "--input_sentence_size=0 --hard_vocab_limit=false --minloglevel=2",
                     input, prefix, vocab_size);
}

std::string hex64(uint64_t x) {
  return fmt::format("{:016x}", x);
}

/// Characters of a piece's text: '▁' is one space, "<0xNN>" one byte.
int64_t piece_characters(const std::string& piece) {
  if (piece.size() == 6 && piece.rfind("<0x", 0) == 0 && piece.back() == '>') {
    auto byte = std::stoi(piece.substr(3, 2), nullptr, 16);
    return (byte & 0xc0) == 0x80 ? 0 : 1;  // a continuation byte adds no character
  }
  return static_cast<int64_t>(count_characters(piece));  // "▁" is one code point, like ' '
}

}  // namespace

tokenizer::~tokenizer() {
  if (handle_ != nullptr)
    spm_->free(handle_);
}

caf::expected<std::shared_ptr<const tokenizer>> tokenizer::load(const std::string& model_path) {
  auto module = spm();
  if (!module)
    return module.error();
  std::shared_ptr<tokenizer> out{new tokenizer};
  out->spm_ = *module;
  char error[512] = {};
  out->handle_ = out->spm_->load(model_path.c_str(), error, sizeof error);
  if (out->handle_ == nullptr)
    return make_error(errc::invalid_argument,
                      "cannot load the tokenizer '" + model_path + "': " + error);
  out->model_path_ = model_path;
  auto pieces = out->spm_->pieces(out->handle_);
  std::string vocabulary;
  std::vector<char> text(4096);
  for (int id = 0; id < pieces; ++id) {
    int special = 0;
    auto n = out->spm_->piece(out->handle_, id, text.data(), text.size(), &special);
    auto piece = std::string(text.data(), static_cast<size_t>(std::min<long>(n, 4096)));
    out->char_counts_.push_back(special != 0 ? 0 : piece_characters(piece));
    vocabulary += piece + (special != 0 ? "\t1\n" : "\t0\n");
  }
  out->fingerprint_ = hex64(stable_hash(vocabulary));
  out->char_counts_.push_back(1);  // the newline token
  return std::shared_ptr<const tokenizer>{std::move(out)};
}

caf::expected<std::shared_ptr<const tokenizer>>
tokenizer::train_or_load(const std::string& training_text, const tokenizer_settings& settings) {
  if (settings.vocab_size < min_vocab_size || settings.vocab_size > max_vocab_size)
    return make_error(errc::invalid_argument,
                      fmt::format("trainer.vocab-size {} is outside {}..{}", settings.vocab_size,
                                  min_vocab_size, max_vocab_size));
  auto key = hex64(stable_hash(training_text + "\n" + trainer_arguments("", "", settings.vocab_size)));
  namespace fs = std::filesystem;
  auto dir = fs::path{settings.cache_dir};
  auto model = (dir / ("tokenizer-" + key + ".model")).string();
  if (fs::exists(model))
    return load(model);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return make_error(errc::invalid_argument, "cannot create the tokenizer cache '"
                                                + settings.cache_dir + "': " + ec.message());
  // Written under this process's own names, then renamed: trainers starting together may all
  // train it, and each ends with the same whole file in place.
  auto own = (dir / ("tokenizer-" + key + "." + std::to_string(getpid()))).string();
  {
    std::ofstream text{own + ".txt", std::ios::binary};
    text << training_text;
    if (!text)
      return make_error(errc::invalid_argument, "cannot write " + own + ".txt");
  }
  auto module = spm();
  if (!module)
    return module.error();
  char error[512] = {};
  auto failed = (*module)->train(trainer_arguments(own + ".txt", own, settings.vocab_size).c_str(),
                                 error, sizeof error);
  fs::remove(own + ".txt", ec);
  fs::remove(own + ".vocab", ec);
  if (failed != 0) {
    fs::remove(own + ".model", ec);
    return make_error(errc::invalid_argument, std::string{"training the tokenizer failed: "} + error);
  }
  fs::rename(own + ".model", model, ec);
  if (ec)
    return make_error(errc::invalid_argument, "cannot keep the tokenizer at " + model + ": " + ec.message());
  return load(model);
}

std::vector<int64_t> tokenizer::encode(std::string_view text) const {
  std::vector<int64_t> out;
  std::vector<int> ids;
  size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    auto line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!line.empty()) {
      // Identity normalization and byte fallback: every line encodes.
      ids.resize(line.size() + 16);
      auto n = spm_->encode(handle_, line.data(), line.size(), ids.data(), ids.size());
      if (static_cast<size_t>(n) > ids.size()) {
        ids.resize(static_cast<size_t>(n));
        spm_->encode(handle_, line.data(), line.size(), ids.data(), ids.size());
      }
      out.insert(out.end(), ids.begin(), ids.begin() + n);
    }
    if (end == std::string_view::npos)
      break;
    out.push_back(newline_id());
    start = end + 1;
  }
  return out;
}

std::string tokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out, piece;
  std::vector<int> line;
  auto flush = [&] {
    if (line.empty())
      return;
    piece.resize(line.size() * 16 + 16);
    auto n = spm_->decode(handle_, line.data(), line.size(), piece.data(), piece.size());
    if (static_cast<size_t>(n) > piece.size()) {
      piece.resize(static_cast<size_t>(n));
      spm_->decode(handle_, line.data(), line.size(), piece.data(), piece.size());
    }
    out.append(piece.data(), static_cast<size_t>(n));
    line.clear();
  };
  for (auto id : ids) {
    if (id == newline_id()) {
      flush();
      out += '\n';
    } else if (id >= 0 && id < newline_id()) {
      line.push_back(static_cast<int>(id));
    }
  }
  flush();
  return out;
}

}  // namespace dmoe::data
