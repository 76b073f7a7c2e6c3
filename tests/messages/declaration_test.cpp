// messages.declaration: how a server's experts are declared in the DHT (one item per grid
// prefix) and read back, and what a malformed declaration is refused for.
#define CAF_SUITE messages.declaration
#include <caf/test/unit_test.hpp>

#include <capnp/message.h>

#include "messages/declaration.hpp"
#include "messages/errors.hpp"
#include "messages/payload.hpp"
#include "messages/schema/declaration.capnp.h"

using namespace dmoe;

namespace {

std::vector<std::string> grid_ids(int rows, int cols, int first_row = 0) {
  std::vector<std::string> ids;
  for (int r = first_row; r < first_row + rows; ++r)
    for (int c = 0; c < cols; ++c)
      ids.push_back("ffn." + std::to_string(r) + "." + std::to_string(c));
  return ids;
}

/// A declaration message written field by field, bypassing encode_declaration's care.
std::string raw(const std::string& endpoint, const std::vector<std::pair<uint32_t, uint32_t>>& ranges) {
  capnp::MallocMessageBuilder message;
  auto out = message.initRoot<wire::PrefixDeclaration>();
  out.setEndpoint(endpoint);
  auto list = out.initChildren(static_cast<unsigned>(ranges.size()));
  for (size_t i = 0; i < ranges.size(); ++i) {
    list[static_cast<unsigned>(i)].setBegin(ranges[i].first);
    list[static_cast<unsigned>(i)].setEnd(ranges[i].second);
  }
  auto bytes = to_payload(message).bytes;
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

CAF_TEST(a 64 x 64 grid on one server is 65 items) {
  auto entries = declaration_entries(grid_ids(64, 64), "10.0.0.1:4100", 1024);
  CAF_REQUIRE_EQUAL(entries.size(), 65u);
  CAF_CHECK_EQUAL(entries[0].key, "ffn.");
  CAF_CHECK_EQUAL(entries[0].label, "10.0.0.1:4100/0");
  auto top = decode_declaration(entries[0].value);
  CAF_REQUIRE(top);
  CAF_CHECK(!top->leaves);
  CAF_CHECK_EQUAL(top->children.size(), 1u);
  CAF_CHECK_EQUAL(top->child_list().size(), 64u);
  size_t bytes = 0;
  for (const auto& e : entries) {
    auto d = decode_declaration(e.value);
    CAF_REQUIRE(d);
    CAF_CHECK_EQUAL(d->endpoint, "10.0.0.1:4100");
    CAF_CHECK_EQUAL(d->max_rows, 1024u);  // the server's batch limit, for routers to split by
    if (e.key != "ffn.") {
      CAF_CHECK(d->leaves);
      CAF_CHECK(d->contains(0) && d->contains(63) && !d->contains(64) && !d->contains(-1));
    }
    bytes += e.value.size();
  }
  CAF_MESSAGE(entries.size() << " items, " << bytes << " bytes of values");
  CAF_CHECK_LESS(bytes, 65u * 128u);
}

CAF_TEST(scattered children become ranges and a prefix with too many is split) {
  auto entries = declaration_entries({"ffn.0.1", "ffn.0.2", "ffn.0.3", "ffn.0.7", "ffn.2.5"}, "h:1");
  CAF_REQUIRE_EQUAL(entries.size(), 3u);  // ffn., ffn.0., ffn.2.
  auto row0 = decode_declaration(entries[1].value);
  CAF_REQUIRE(row0);
  CAF_CHECK_EQUAL(entries[1].key, "ffn.0.");
  CAF_CHECK((row0->children == std::vector<child_range>{{1, 4}, {7, 8}}));
  CAF_CHECK_EQUAL(row0->child_list(), (std::vector<int64_t>{1, 2, 3, 7}));
  auto top = decode_declaration(entries[0].value);
  CAF_REQUIRE(top);
  CAF_CHECK_EQUAL(top->child_list(), (std::vector<int64_t>{0, 2}));
  // Every other cell of a row of 2 * (max + 1): more ranges than one item may carry.
  std::vector<std::string> sparse;
  for (size_t c = 0; c < 2 * (max_declared_ranges + 1); c += 2)
    sparse.push_back("x.0." + std::to_string(c));
  auto split = declaration_entries(sparse, "h:1");
  CAF_REQUIRE_EQUAL(split.size(), 3u);  // x., and x.0. in two chunks
  CAF_CHECK_EQUAL(split[1].label, "h:1/0");
  CAF_CHECK_EQUAL(split[2].label, "h:1/1");
  size_t declared = 0;
  for (size_t i = 1; i < split.size(); ++i) {
    auto d = decode_declaration(split[i].value);
    CAF_REQUIRE(d);
    declared += d->child_list().size();
  }
  CAF_CHECK_EQUAL(declared, sparse.size());
}

CAF_TEST(malformed declarations are refused with a reason) {
  CAF_CHECK(decode_declaration(raw("h:1", {{0, 4}, {6, 9}})));
  for (const auto& [bytes, why] : std::vector<std::pair<std::string, std::string>>{
         {raw("", {{0, 1}}), "endpoint"},
         {raw(std::string(300, 'h'), {{0, 1}}), "endpoint"},
         {raw("h:1\n[forged log line]", {{0, 1}}), "control byte"},
         {raw("h:1", {}), "ranges"},
         {raw("h:1", {{3, 3}}), "empty range"},
         {raw("h:1", {{5, 9}, {2, 4}}), "out of order"},
         {raw("h:1", {{0, 4}, {4, 6}}), "touching"},
         {raw("h:1", {{0, 1000000001}}), "coordinate"},
         {raw("h:1", std::vector<std::pair<uint32_t, uint32_t>>(max_declared_ranges + 1, {0, 1})),
          "ranges"},
         {std::string("not a capnp message"), ""},
         {std::string{}, ""}}) {
    auto d = decode_declaration(bytes);
    CAF_REQUIRE(!d);
    CAF_CHECK_EQUAL(code_of(d.error()), errc::malformed);
    CAF_CHECK_NOT_EQUAL(describe(d.error()).find(why), std::string::npos);
  }
}

CAF_TEST(a declaration prints as its experts and a plain value escaped) {
  auto entries = declaration_entries(grid_ids(1, 64, 3), "h:1");
  CAF_CHECK_EQUAL(printable_value(entries[1].value), "experts 0-63 at h:1");
  CAF_CHECK_EQUAL(printable_value(entries[0].value), "prefixes 3 at h:1");
  CAF_CHECK_EQUAL(printable_value("h:2\x1b[31m"), "h:2\\x1b[31m");
}
