// An expert declaration (schema/declaration.capnp) as routers read it from DHT items: a decoded
// one keeps its promises (an endpoint without control bytes, 1..max ranges, each non-empty,
// ascending and apart) and decodes again, equal, after its own re-encoding.
#include <string>

#include "fuzz/fuzz_input.hpp"
#include "messages/declaration.hpp"

using namespace dmoe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes{reinterpret_cast<const char*>(data), size};
  auto d = decode_declaration(bytes);
  printable_value(bytes);
  if (!d)
    return 0;
  if (d->endpoint.empty() || d->children.empty() || d->children.size() > max_declared_ranges)
    fuzz::broken("a declaration outside its limits decoded");
  uint32_t previous_end = 0;
  for (size_t i = 0; i < d->children.size(); ++i) {
    const auto& r = d->children[i];
    if (r.begin >= r.end || (i > 0 && r.begin <= previous_end))
      fuzz::broken("ranges empty, out of order or touching");
    if (!d->contains(r.begin) || !d->contains(r.end - 1) || d->contains(r.end))
      fuzz::broken("contains() disagrees with the ranges");
    previous_end = r.end;
  }
  auto again = decode_declaration(encode_declaration(*d));
  if (!again || !(*again == *d))
    fuzz::broken("a decoded declaration does not survive its own re-encoding");
  return 0;
}
