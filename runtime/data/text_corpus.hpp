// Real text for the language model (no LibTorch): a UTF-8 text file a user brings, or the King
// James Bible from Debian's bible-kjv, split into training, validation and test text that never
// mix. The split is by documents, the blank-line-separated paragraphs of the text (a chapter of
// the Bible, whose verses are its lines): document i goes to validation when i % 20 == 10, to
// test when i % 20 == 19, to training otherwise (90 / 5 / 5 %). A text with fewer than 40
// documents is cut into documents of about 4 KiB at line ends first. The tokenizer is trained on
// the training text only, so held-out text reaches neither it nor the model's updates.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace dmoe::data {

/// The largest text file read (1 GiB): a typo naming a disk image is an error, not OOM.
constexpr size_t max_text_bytes = size_t{1} << 30;
/// Fewer documents than this and the text is cut into chunks of about chunk_bytes.
constexpr size_t min_documents = 40;
constexpr size_t chunk_bytes = 4096;

struct text_splits {
  std::string source;      // what the text is: a path, or "King James Bible (bible-kjv)"
  std::string train;       // documents joined by "\n\n"
  std::string validation;
  std::string test;
  size_t documents = 0;
};

/// Whether `text` is valid UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF);
/// `bad_at` gets the offset of the first invalid byte.
bool is_valid_utf8(std::string_view text, size_t* bad_at = nullptr);

/// The number of characters (code points) of valid UTF-8 `text`.
size_t count_characters(std::string_view text);

/// The whole file at `path`: an error naming the file when it is missing, empty, larger than
/// max_text_bytes or not UTF-8 (with the offset of the first bad byte).
caf::expected<std::string> read_text_file(const std::string& path);

/// The King James Bible as Debian's `bible -f Gen1:1-Rev22:21` prints it, reformatted as the
/// model sees it: each verse a line without its reference, a blank line between chapters.
/// An error saying what to install when the program is missing.
caf::expected<std::string> king_james_text();

/// `text` split into training, validation and test text (above).
text_splits split_text(std::string text, std::string source);

/// Whether the text `path` names (the King James Bible when empty) is there and readable as
/// UTF-8 text: the error load_text_splits would give, found at a node's start.
caf::error check_text_source(const std::string& path);

/// The splits of `path`, or of the King James Bible when `path` is empty.
caf::expected<text_splits> load_text_splits(const std::string& path);

}  // namespace dmoe::data
