// "host:port" endpoints, the addresses nodes give each other in DHT contacts and configs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace dmoe {

struct endpoint {
  std::string host;
  uint16_t port = 0;
};

/// Accepts "host:port" with a non-empty host and a port in 1..65535.
caf::expected<endpoint> parse_endpoint(std::string_view text);

std::string to_string(const endpoint& ep);

}  // namespace dmoe
