// "host:port" endpoints, the addresses nodes give each other in DHT contacts and configs, and the
// rules for the address a node listens on (node.host) and the one it tells peers (node.advertise).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace dmoe {

struct endpoint {
  std::string host;
  uint16_t port = 0;
};

/// Accepts "host:port" with a non-empty host and a port in 1..65535.
caf::expected<endpoint> parse_endpoint(std::string_view text);

std::string to_string(const endpoint& ep);

/// True for the addresses that mean "every interface" ("0.0.0.0", "::", "*"): a node may listen
/// on them, but never tell them to peers.
bool is_wildcard_host(std::string_view host);

/// A host a node can listen on or advertise: an IPv4 address or a DNS name (letters, digits,
/// '-', '.'; at most 253 characters). `key` names the option in the error.
caf::error check_host(std::string_view host, std::string_view key);

/// The endpoint a node tells its peers: `advertise` ("host" or "host:port"; empty: `host`) with
/// `bound_port` when it names no port. Errors name the offending value: a wildcard or malformed
/// host, a bad port, or a wildcard `host` without an advertise address.
caf::expected<endpoint> advertised_endpoint(std::string_view host, std::string_view advertise,
                                            uint16_t bound_port);

}  // namespace dmoe
