#include "runtime/data/text_corpus.hpp"

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <sys/wait.h>
#include <vector>

#include "messages/errors.hpp"

namespace dmoe::data {

bool is_valid_utf8(std::string_view text, size_t* bad_at) {
  size_t i = 0;
  auto fail = [&] {
    if (bad_at != nullptr)
      *bad_at = i;
    return false;
  };
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t extra = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1;
      code = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      code = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      code = c & 0x07;
    } else {
      return fail();
    }
    if (i + extra >= text.size())
      return fail();  // cut short
    for (size_t k = 1; k <= extra; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80)
        return fail();
      code = (code << 6) | (next & 0x3f);
    }
    static constexpr uint32_t smallest[] = {0, 0x80, 0x800, 0x10000};
    if (code < smallest[extra] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
      return fail();
    i += extra + 1;
  }
  return true;
}

size_t count_characters(std::string_view text) {
  size_t n = 0;
  for (unsigned char c : text)
    n += (c & 0xc0) != 0x80;
  return n;
}

caf::expected<std::string> read_text_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::not_found, "trainer.text-file '" + path + "' cannot be read");
  in.seekg(0, std::ios::end);
  auto size = static_cast<size_t>(in.tellg());
  if (size == 0)
    return make_error(errc::invalid_argument, "trainer.text-file '" + path + "' is empty");
  if (size > max_text_bytes)
    return make_error(errc::limit_exceeded, "trainer.text-file '" + path + "' has "
                                              + std::to_string(size) + " bytes, more than "
                                              + std::to_string(max_text_bytes));
  in.seekg(0);
  std::string text(size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  if (!in)
    return make_error(errc::invalid_argument, "trainer.text-file '" + path + "' could not be read whole");
  size_t bad = 0;
  if (!is_valid_utf8(text, &bad))
    return make_error(errc::invalid_argument, "trainer.text-file '" + path
                                                + "' is not UTF-8 text (an invalid byte at offset "
                                                + std::to_string(bad) + ")");
  return text;
}

caf::expected<std::string> king_james_text() {
  // -f: one verse per line with its reference ("Ge1:1 In the beginning ..."), no wrapping.
  std::unique_ptr<FILE, int (*)(FILE*)> pipe{popen("bible -f Gen1:1-Rev22:21 2>/dev/null", "r"),
                                             pclose};
  if (!pipe)
    return make_error(errc::not_found, "cannot run 'bible' (apt install bible-kjv bible-kjv-text)");
  std::string out, line, chapter;
  std::vector<char> buffer(1 << 16);
  std::string pending;
  size_t verses = 0;
  auto take_line = [&](const std::string& l) {
    auto space = l.find(' ');
    if (space == std::string::npos || space == 0)
      return;  // not a verse line
    auto reference = l.substr(0, space);
    auto colon = reference.find(':');
    if (colon == std::string::npos)
      return;
    auto this_chapter = reference.substr(0, colon);
    if (!chapter.empty() && this_chapter != chapter)
      out += '\n';  // a blank line between chapters
    chapter = this_chapter;
    out += l.substr(space + 1);
    out += '\n';
    ++verses;
  };
  size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0) {
    pending.append(buffer.data(), n);
    size_t start = 0;
    for (auto end = pending.find('\n'); end != std::string::npos; end = pending.find('\n', start)) {
      take_line(pending.substr(start, end - start));
      start = end + 1;
    }
    pending.erase(0, start);
  }
  if (!pending.empty())
    take_line(pending);
  int status = pclose(pipe.release());
  if (verses == 0 || (WIFEXITED(status) && WEXITSTATUS(status) == 127))
    return make_error(errc::not_found, "the King James Bible is not installed (apt install "
                                       "bible-kjv bible-kjv-text), or set trainer.text-file");
  return out;
}

namespace {

/// Blank-line-separated paragraphs, each without its trailing newlines.
std::vector<std::string> paragraphs(const std::string& text) {
  std::vector<std::string> out;
  std::string current;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) {
      if (!current.empty())
        out.push_back(std::move(current));
      current.clear();
      continue;
    }
    current += line;
    current += '\n';
  }
  if (!current.empty())
    out.push_back(std::move(current));
  return out;
}

/// `text` cut at line ends into pieces of about chunk_bytes.
std::vector<std::string> chunks(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    auto end = std::min(text.size(), start + chunk_bytes);
    if (end < text.size()) {
      auto newline = text.find('\n', end);
      end = newline == std::string::npos ? text.size() : newline + 1;
    }
    out.push_back(text.substr(start, end - start));
    start = end;
  }
  return out;
}

void append_document(std::string& to, const std::string& document) {
  if (!to.empty())
    to += '\n';  // documents apart by a blank line, as in the text
  to += document;
}

}  // namespace

text_splits split_text(std::string text, std::string source) {
  auto documents = paragraphs(text);
  if (documents.size() < min_documents)
    documents = chunks(text);
  text_splits out;
  out.source = std::move(source);
  out.documents = documents.size();
  for (size_t i = 0; i < documents.size(); ++i) {
    auto slot = i % 20;
    append_document(slot == 10 ? out.validation : slot == 19 ? out.test : out.train, documents[i]);
  }
  return out;
}

caf::error check_text_source(const std::string& path) {
  if (path.empty()) {
    // `bible` prints one verse quickly; without bible-kjv-text it prints nothing.
    std::unique_ptr<FILE, int (*)(FILE*)> pipe{popen("bible -f Gen1:1 2>/dev/null", "r"), pclose};
    char line[256] = {};
    if (!pipe || fgets(line, sizeof line, pipe.get()) == nullptr)
      return make_error(errc::not_found, "the King James Bible is not installed (apt install "
                                         "bible-kjv bible-kjv-text), or set trainer.text-file");
    return caf::none;
  }
  auto text = read_text_file(path);
  return text ? caf::none : text.error();
}

caf::expected<text_splits> load_text_splits(const std::string& path) {
  auto text = path.empty() ? king_james_text() : read_text_file(path);
  if (!text)
    return text.error();
  auto splits = split_text(std::move(*text), path.empty() ? "King James Bible (bible-kjv)" : path);
  if (splits.train.empty() || splits.validation.empty() || splits.test.empty())
    return make_error(errc::invalid_argument,
                      "the text of " + splits.source + " is too short to split into training, "
                      "validation and test text (" + std::to_string(splits.documents)
                      + " documents)");
  return splits;
}

}  // namespace dmoe::data
