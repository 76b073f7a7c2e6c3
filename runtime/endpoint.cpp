#include "runtime/endpoint.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "messages/errors.hpp"

namespace dmoe {

namespace {

constexpr size_t max_host_length = 253;
constexpr size_t quoted_length = 128;

std::string quote(std::string_view text) {
  return "'" + std::string(text.substr(0, quoted_length)) + "'";
}

caf::error invalid(std::string text) {
  return make_error(errc::invalid_argument, std::move(text));
}

bool looks_like_ipv4(std::string_view host) {
  return !host.empty()
         && std::all_of(host.begin(), host.end(), [](char c) { return c == '.' || std::isdigit(c); });
}

}  // namespace

caf::expected<endpoint> parse_endpoint(std::string_view text) {
  auto bad = [&](const char* why) { return invalid("endpoint " + quote(text) + " " + why); };
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

bool is_wildcard_host(std::string_view host) {
  return host == "0.0.0.0" || host == "::" || host == "*" || host == "[::]";
}

caf::error check_host(std::string_view host, std::string_view key) {
  auto bad = [&](const char* why) {
    return invalid("bad value " + quote(host) + " for '" + std::string(key) + "': " + why);
  };
  if (host.empty())
    return bad("empty host");
  if (host.size() > max_host_length)
    return bad("longer than 253 characters");
  if (is_wildcard_host(host))
    return caf::none;
  if (looks_like_ipv4(host)) {
    in_addr addr{};
    if (inet_pton(AF_INET, std::string(host).c_str(), &addr) != 1)
      return bad("not an IPv4 address");
    return caf::none;
  }
  auto name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.'; };
  if (!std::all_of(host.begin(), host.end(), name_char) || host.front() == '-'
      || host.front() == '.' || host.find("..") != std::string_view::npos)
    return bad("not an IPv4 address or a DNS name");
  return caf::none;
}

caf::expected<endpoint> advertised_endpoint(std::string_view host, std::string_view advertise,
                                            uint16_t bound_port) {
  if (auto err = check_host(host, "node.host"))
    return err;
  if (advertise.empty()) {
    if (is_wildcard_host(host))
      return invalid("'node.host' " + quote(host)
                     + " listens on every interface, which peers cannot dial: set 'node.advertise' "
                       "to the address they should use (e.g. the machine's public IP)");
    return endpoint{std::string(host), bound_port};
  }
  endpoint out;
  if (advertise.find(':') == std::string_view::npos) {
    out = endpoint{std::string(advertise), bound_port};
  } else {
    auto parsed = parse_endpoint(advertise);
    if (!parsed)
      return invalid("bad value " + quote(advertise) + " for 'node.advertise': "
                     + message_of(parsed.error()));
    out = std::move(*parsed);
  }
  if (auto err = check_host(out.host, "node.advertise"))
    return err;
  if (is_wildcard_host(out.host))
    return invalid("bad value " + quote(advertise)
                   + " for 'node.advertise': a wildcard address cannot be dialed by peers");
  return out;
}

}  // namespace dmoe
