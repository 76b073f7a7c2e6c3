// The SentencePiece calls dmoe makes, in a module of their own that tokenizer.cpp loads with
// dlmopen into a link namespace of its own. Debian's libsentencepiece carries its own copy of
// protobuf and exports it; linked into a process beside LibTorch's libprotobuf, the two copies
// bind to each other's symbols and the process crashes before main (seen: in
// ReflectionOps::FindInitializationErrors). RTLD_DEEPBIND is not enough: SentencePiece's
// logging then writes to a std::cerr that the program's copy relocation left unconstructed.
// Only plain C types cross this boundary; memory is freed on the side that allocated it.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

namespace {

void copy_error(const std::string& text, char* error, size_t size) {
  if (error == nullptr || size == 0)
    return;
  auto n = std::min(text.size(), size - 1);
  std::memcpy(error, text.data(), n);
  error[n] = '\0';
}

sentencepiece::SentencePieceProcessor* processor(void* handle) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(handle);
}

}  // namespace

extern "C" {

int dmoe_spm_train(const char* arguments, char* error, size_t error_size) {
  // SentencePiece logs its whole command line before it reads --minloglevel; this std::cerr
  // is the module's own (its namespace has its own libstdc++), so only SentencePiece goes quiet.
  // Failures come back in the status.
  std::cerr.rdbuf(nullptr);
  auto status = sentencepiece::SentencePieceTrainer::Train(arguments);
  if (status.ok())
    return 0;
  copy_error(status.ToString(), error, error_size);
  return 1;
}

void* dmoe_spm_load(const char* path, char* error, size_t error_size) {
  auto* p = new sentencepiece::SentencePieceProcessor();
  if (auto status = p->Load(path); !status.ok()) {
    copy_error(status.ToString(), error, error_size);
    delete p;
    return nullptr;
  }
  return p;
}

void dmoe_spm_free(void* handle) {
  delete processor(handle);
}

int dmoe_spm_pieces(void* handle) {
  return processor(handle)->GetPieceSize();
}

/// The piece of `id` into `text` (at most `size` bytes, not terminated); its length, and
/// whether it is a control or unknown piece (which decodes to nothing).
long dmoe_spm_piece(void* handle, int id, char* text, size_t size, int* special) {
  auto* p = processor(handle);
  *special = p->IsControl(id) || p->IsUnknown(id) ? 1 : 0;
  const auto& piece = p->IdToPiece(id);
  std::memcpy(text, piece.data(), std::min(piece.size(), size));
  return static_cast<long>(piece.size());
}

/// The ids of `text`: writes at most `max` and returns how many there are (call again with room
/// for all when that is more).
long dmoe_spm_encode(void* handle, const char* text, size_t length, int* ids, size_t max) {
  std::vector<int> out;
  processor(handle)->Encode(std::string_view{text, length}, &out).IgnoreError();
  std::memcpy(ids, out.data(), std::min(out.size(), max) * sizeof(int));
  return static_cast<long>(out.size());
}

/// The text of `ids`: writes at most `max` bytes and returns its length.
long dmoe_spm_decode(void* handle, const int* ids, size_t count, char* text, size_t max) {
  std::string out;
  processor(handle)->Decode(std::vector<int>(ids, ids + count), &out).IgnoreError();
  std::memcpy(text, out.data(), std::min(out.size(), max));
  return static_cast<long>(out.size());
}

}  // extern "C"
