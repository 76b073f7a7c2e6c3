#include "runtime/endpoint.hpp"

#include <charconv>

#include "messages/errors.hpp"

namespace dmoe {

caf::expected<endpoint> parse_endpoint(std::string_view text) {
  auto bad = [&](const char* why) {
    return make_error(errc::invalid_argument,
                      "endpoint '" + std::string(text.substr(0, 128)) + "' " + why);
  };
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return bad("is not host:port");
  auto port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
    return bad("has no port in 1..65535");
  return endpoint{std::string(text.substr(0, colon)), static_cast<uint16_t>(port)};
}

std::string to_string(const endpoint& ep) {
  return ep.host + ":" + std::to_string(ep.port);
}

}  // namespace dmoe
