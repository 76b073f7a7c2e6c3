#include "messages/payload.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include <kj/io.h>

namespace dmoe {

namespace {

// Appends to a vector whose capacity is already reserved: one copy, no zero-filling first.
class append_stream final : public kj::OutputStream {
public:
  explicit append_stream(std::vector<char>& out) : out_(out) {
  }
  void write(const void* buffer, size_t size) override {
    const auto* bytes = static_cast<const char*>(buffer);
    out_.insert(out_.end(), bytes, bytes + size);
  }

private:
  std::vector<char>& out_;
};

}  // namespace

payload to_payload(capnp::MessageBuilder& message) {
  payload out;
  out.bytes.reserve(capnp::computeSerializedSizeInWords(message) * sizeof(capnp::word));
  append_stream stream{out.bytes};
  capnp::writeMessage(stream, message);
  return out;
}

namespace {

capnp::ReaderOptions reader_options(size_t words, const wire_limits& limits) {
  capnp::ReaderOptions options;
  // A well-formed message is traversed about once; the factor leaves room for a reader that
  // revisits fields while still stopping amplification attacks (pointers aliasing one blob).
  options.traversalLimitInWords = words * 4 + 1024;
  options.nestingLimit = static_cast<int>(limits.max_nesting);
  return options;
}

}  // namespace

message_view::message_view(const payload& in, const wire_limits& limits) {
  auto words = in.bytes.size() / sizeof(capnp::word);
  const auto* data = in.bytes.data();
  kj::ArrayPtr<const capnp::word> segments;
  if (reinterpret_cast<uintptr_t>(data) % alignof(capnp::word) == 0) {
    segments = kj::arrayPtr(reinterpret_cast<const capnp::word*>(data), words);
  } else {
    aligned_copy_ = kj::heapArray<capnp::word>(words);
    std::memcpy(aligned_copy_.begin(), data, in.bytes.size());
    segments = kj::arrayPtr(static_cast<const capnp::word*>(aligned_copy_.begin()), words);
  }
  reader_ = kj::heap<capnp::FlatArrayMessageReader>(segments, reader_options(words, limits));
}

namespace detail {

caf::error load_payload_bytes(caf::deserializer& source, std::vector<char>& out) {
  size_t claimed = 0;
  if (auto err = source.begin_sequence(claimed))
    return err;
  out.clear();
  // Doubling steps keep the copying linear in the bytes read, and a false claim costs at most
  // twice the bytes the message really holds (the first step at least 64 KiB).
  size_t step = 64 << 10;
  while (out.size() < claimed) {
    auto offset = out.size();
    auto n = std::min(claimed - offset, step);
    out.resize(offset + n);
    if (auto err = source.apply_raw(n, out.data() + offset)) {
      out = std::vector<char>{};
      return make_error(errc::malformed, "a dmoe::payload claims " + std::to_string(claimed)
                                           + " bytes, more than its message holds");
    }
    step = out.size();
  }
  return source.end_sequence();
}

caf::error decode_failure(const char* description) {
  return make_error(errc::malformed, std::string("cannot decode message: ") + description);
}

caf::error check_payload_size(const payload& in, const wire_limits& limits) {
  auto size = in.bytes.size();
  if (size == 0)
    return make_error(errc::malformed, "empty payload");
  if (size % sizeof(capnp::word) != 0)
    return make_error(errc::malformed,
                      "payload of " + std::to_string(size) + " bytes is not a whole number of words");
  if (size > limits.max_message_bytes)
    return make_error(errc::limit_exceeded,
                      "payload of " + std::to_string(size) + " bytes exceeds the limit of "
                        + std::to_string(limits.max_message_bytes));
  return caf::none;
}

}  // namespace detail

}  // namespace dmoe
