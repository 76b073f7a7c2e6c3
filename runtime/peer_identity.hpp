// Who a peer is, for the limits a node keeps per peer: something the peer cannot choose freely.
// A BASP node id is whatever the peer's handshake claims, so a peer with one address could be a
// thousand "peers" and take a thousand shares. With TLS a peer is the swarm member its
// certificate names (the swarm's CA issued it); in an open swarm it is the address it connects
// from, an IPv6 address by its /64 prefix (one host's usual allocation, so one host cannot
// spread over 2^64 addresses). Peers behind one NAT then share one share: the price of not
// trusting what a peer says about itself.
#pragma once

#include <string>

namespace dmoe {

/// "address 192.0.2.7" for an IPv4 address (also when written as ::ffff:192.0.2.7);
/// "address 2001:db8:1:2::/64" for an IPv6 one; "address <text>" for what parses as neither.
std::string address_identity(const std::string& ip);

/// "member <name>": a swarm member, by the common name of its certificate.
std::string member_identity(const std::string& common_name);

}  // namespace dmoe
