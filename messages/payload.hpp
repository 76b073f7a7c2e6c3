// How Cap'n Proto bytes travel inside CAF messages.
//
// Every dmoe RPC is a CAF request `(protocol_atom, payload)` answered with a `payload`. The
// payload holds one serialized Cap'n Proto message (the segment table followed by the segments,
// as capnp::writeMessage lays it out). CAF moves it between actors of one process without
// copying, and between processes as a single raw byte run (std::vector<char> is a byte sequence
// to CAF's serializers), so an actor's code is the same whether its peer is local or remote.
// The atom names the protocol, the way a path names an HTTP endpoint; all content is Cap'n Proto.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <caf/deserializer.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include "messages/errors.hpp"
#include "messages/limits.hpp"

namespace dmoe {

struct payload {
  std::vector<char> bytes;
};

namespace detail {
/// Reads a payload's bytes without trusting the length the sender claims: the buffer grows
/// only as bytes actually arrive. (CAF's own loading of a std::vector<char> allocates and
/// zero-fills the claimed length first: 4 GiB for a 100-byte message claiming that much.)
caf::error load_payload_bytes(caf::deserializer& source, std::vector<char>& out);
}  // namespace detail

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, payload& x) {
  if constexpr (Inspector::reads_state)
    return f(caf::meta::type_name("dmoe::payload"), x.bytes);
  else
    return detail::load_payload_bytes(f, x.bytes);
}

/// Serializes a finished message into a payload: one copy of each segment.
payload to_payload(capnp::MessageBuilder& message);

/// A validated view on a received payload. Reading uses explicit limits; getters may still throw
/// kj::Exception on corrupt pointers, so read only inside `decode`.
class message_view {
public:
  message_view(const payload& in, const wire_limits& limits);

  template <class Root>
  typename Root::Reader root() {
    return reader_->getRoot<Root>();
  }

private:
  kj::Array<capnp::word> aligned_copy_;  // used only when the bytes are not word-aligned
  kj::Own<capnp::FlatArrayMessageReader> reader_;
};

namespace detail {
caf::error decode_failure(const char* description);
caf::error check_payload_size(const payload& in, const wire_limits& limits);
}  // namespace detail

/// Opens `in` as a `Root` message and hands its reader to `read`, which validates and converts
/// it. Anything Cap'n Proto rejects (truncation, bad pointers, limits) becomes errc::malformed.
/// `read` returns caf::expected<T>.
template <class Root, class Reader>
auto decode(const payload& in, const wire_limits& limits, Reader&& read)
  -> decltype(read(std::declval<typename Root::Reader>())) {
  if (auto err = detail::check_payload_size(in, limits))
    return err;
  try {
    message_view view{in, limits};
    return read(view.root<Root>());
  } catch (const kj::Exception& e) {
    return detail::decode_failure(e.getDescription().cStr());
  } catch (const std::exception& e) {
    return detail::decode_failure(e.what());
  }
}

/// A received payload kept alive together with its reader, so decoded tensors can alias its
/// bytes instead of copying them. Shared by every tensor that aliases it.
class shared_message {
public:
  shared_message(payload&& in, const wire_limits& limits)
    : bytes_(std::move(in)), view_(bytes_, limits) {
  }
  template <class Root>
  typename Root::Reader root() {
    return view_.root<Root>();
  }

private:
  payload bytes_;
  message_view view_;
};

/// Like `decode`, but takes ownership of the bytes; `read` gets the reader and a shared owner
/// that aliasing results (e.g. tensors) keep alive.
template <class Root, class Reader>
auto decode_owned(payload&& in, const wire_limits& limits, Reader&& read)
  -> decltype(read(std::declval<typename Root::Reader>(), std::shared_ptr<shared_message>{})) {
  if (auto err = detail::check_payload_size(in, limits))
    return err;
  try {
    auto owner = std::make_shared<shared_message>(std::move(in), limits);
    return read(owner->root<Root>(), owner);
  } catch (const kj::Exception& e) {
    return detail::decode_failure(e.getDescription().cStr());
  } catch (const std::exception& e) {
    return detail::decode_failure(e.what());
  }
}

}  // namespace dmoe
