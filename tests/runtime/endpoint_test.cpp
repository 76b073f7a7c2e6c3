// "host:port" parsing (runtime/endpoint.hpp): what is accepted, what is refused and why.
#define CAF_SUITE runtime.endpoint
#include <caf/test/unit_test.hpp>

#include <string>

#include "messages/errors.hpp"
#include "runtime/endpoint.hpp"

using namespace dmoe;

CAF_TEST(host and port are split at the last colon) {
  auto ep = parse_endpoint("127.0.0.1:4000");
  CAF_REQUIRE(ep);
  CAF_CHECK_EQUAL(ep->host, "127.0.0.1");
  CAF_CHECK_EQUAL(ep->port, 4000u);
  auto named = parse_endpoint("node-3.example.org:1");
  CAF_REQUIRE(named);
  CAF_CHECK_EQUAL(named->host, "node-3.example.org");
  CAF_CHECK_EQUAL(named->port, 1u);
  auto top = parse_endpoint("h:65535");
  CAF_REQUIRE(top);
  CAF_CHECK_EQUAL(top->port, 65535u);
}

CAF_TEST(to_string gives back the parsed text) {
  for (std::string text : {"127.0.0.1:4000", "localhost:1", "dht-1:65535"}) {
    auto ep = parse_endpoint(text);
    CAF_REQUIRE(ep);
    CAF_CHECK_EQUAL(to_string(*ep), text);
  }
  CAF_CHECK_EQUAL(to_string(endpoint{"a", 7}), "a:7");
}

CAF_TEST(malformed endpoints are invalid arguments that quote the input) {
  for (std::string text : {"", "4000", ":4000", "host", "host:", "host:0", "host:65536",
                           "host:70000", "host:-1", "host:+80", "host:80x", "host: 80",
                           "host:80 ", "host:0x50", "host:99999999999999999999"}) {
    auto ep = parse_endpoint(text);
    if (ep) {
      CAF_ERROR("'" << text << "' was accepted as " << to_string(*ep));
      continue;
    }
    CAF_CHECK_EQUAL(code_of(ep.error()), errc::invalid_argument);
    CAF_CHECK_NOT_EQUAL(describe(ep.error()).find("'" + text + "'"), std::string::npos);
  }
}

CAF_TEST(a huge input is quoted only in part) {
  std::string text(100000, 'h');
  auto ep = parse_endpoint(text + ":80x");
  CAF_REQUIRE(!ep);
  CAF_CHECK_LESS(describe(ep.error()).size(), 400u);
  // A long host with a valid port is the caller's business (the DHT limits endpoint bytes).
  CAF_CHECK(parse_endpoint(text + ":80"));
}
