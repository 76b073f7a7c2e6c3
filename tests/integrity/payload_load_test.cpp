// A dmoe::payload's loading (messages/payload.hpp) does not trust the length it claims.
#define CAF_SUITE integrity.payload
#include <caf/test/unit_test.hpp>

#include <fstream>
#include <string>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "messages/payload.hpp"

using namespace dmoe;

namespace {

/// Serialized like a dmoe::payload, but claiming `claimed` bytes while holding `held`.
std::vector<char> forged_payload_bytes(size_t claimed, size_t held) {
  std::vector<char> out;
  caf::binary_serializer sink{nullptr, out};
  std::vector<char> body(held, 'p');
  if (sink.begin_sequence(claimed) || sink.apply_raw(body.size(), body.data()) || sink.end_sequence())
    CAF_FAIL("cannot serialize");
  return out;
}

/// The process's peak resident memory so far (VmHWM), in bytes.
size_t peak_rss_bytes() {
  std::ifstream status{"/proc/self/status"};
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0)
      return std::stoull(line.substr(6)) * 1024;
  CAF_FAIL("no VmHWM in /proc/self/status");
  return 0;
}

std::vector<char> serialized(const payload& p) {
  std::vector<char> out;
  caf::binary_serializer sink{nullptr, out};
  if (auto err = sink(p))
    CAF_FAIL("cannot serialize");
  return out;
}

}  // namespace

CAF_TEST(a payload claiming more bytes than its message holds is refused without allocating them) {
  auto bytes = forged_payload_bytes(size_t{1} << 31, 100);
  CAF_CHECK_LESS(bytes.size(), 110u);
  auto peak_before = peak_rss_bytes();
  payload p;
  caf::binary_deserializer source{nullptr, bytes};
  auto err = source(p);
  CAF_CHECK(err);
  CAF_CHECK(p.bytes.empty());
  // Trusting the claim would have zero-filled 2 GiB, raising the peak by as much.
  CAF_CHECK_LESS(peak_rss_bytes() - peak_before, size_t{64} << 20);
}

CAF_TEST(a payload loads whole whatever its size) {
  for (size_t n : {size_t{0}, size_t{8}, size_t{64} << 10, (size_t{64} << 10) + 8, size_t{1} << 20}) {
    payload in;
    in.bytes.resize(n);
    for (size_t i = 0; i < n; ++i)
      in.bytes[i] = static_cast<char>(i * 31);
    auto bytes = serialized(in);
    payload out;
    caf::binary_deserializer source{nullptr, bytes};
    CAF_CHECK(!source(out));
    CAF_CHECK_EQUAL(bytes.size(), n + (n < 128 ? 1 : n < (1 << 14) ? 2 : 3));  // size, then bytes
    CAF_CHECK(out.bytes == in.bytes);
    CAF_CHECK_EQUAL(source.remaining(), 0u);
  }
}
