// Who a peer is for per-peer limits (runtime/peer_identity.hpp): its address, an IPv6 one by
// its /64, or its certificate's member name.
#define CAF_SUITE runtime.peer_identity
#include <caf/test/unit_test.hpp>

#include "runtime/peer_identity.hpp"

using namespace dmoe;

CAF_TEST(an ipv4 address is itself also when written as ipv6) {
  CAF_CHECK_EQUAL(address_identity("192.0.2.7"), "address 192.0.2.7");
  CAF_CHECK_EQUAL(address_identity("::ffff:192.0.2.7"), "address 192.0.2.7");
  CAF_CHECK_NOT_EQUAL(address_identity("192.0.2.7"), address_identity("192.0.2.8"));
}

CAF_TEST(an ipv6 host is its 64 bit prefix) {
  auto one = address_identity("2001:db8:1:2::1");
  CAF_CHECK_EQUAL(one, "address 2001:db8:1:2::/64");
  CAF_CHECK_EQUAL(address_identity("2001:db8:1:2:ffff:ffff:ffff:ffff"), one);
  CAF_CHECK_NOT_EQUAL(address_identity("2001:db8:1:3::1"), one);
}

CAF_TEST(what is no address stays apart and escaped) {
  CAF_CHECK_EQUAL(address_identity("?"), "address ?");
  CAF_CHECK_EQUAL(address_identity("a\nb").find('\n'), std::string::npos);
  CAF_CHECK_EQUAL(member_identity("alice"), "member alice");
  CAF_CHECK_NOT_EQUAL(member_identity("192.0.2.7"), address_identity("192.0.2.7"));
}
