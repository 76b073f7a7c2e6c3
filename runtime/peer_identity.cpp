#include "runtime/peer_identity.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "runtime/logging.hpp"

namespace dmoe {

std::string address_identity(const std::string& ip) {
  in6_addr v6{};
  if (inet_pton(AF_INET6, ip.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      char text[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, &v6.s6_addr[12], text, sizeof(text));
      return std::string{"address "} + text;
    }
    std::memset(&v6.s6_addr[8], 0, 8);
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, &v6, text, sizeof(text));
    return std::string{"address "} + text + "/64";
  }
  in_addr v4{};
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &v4, text, sizeof(text));
    return std::string{"address "} + text;
  }
  return "address " + log::escaped(ip, 64);
}

std::string member_identity(const std::string& common_name) {
  return "member " + log::escaped(common_name, 64);
}

}  // namespace dmoe
