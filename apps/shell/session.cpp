#include "apps/shell/session.hpp"

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "messages/errors.hpp"
#include "messages/type_ids.hpp"
#include "runtime/endpoint.hpp"
#include "runtime/node_dial.hpp"

namespace dmoe::shell {

session::session(caf::actor_system& system, inspector_actor node, std::string address,
                 caf::timespan timeout)
  : system_(&system), node_(std::move(node)), address_(std::move(address)), timeout_(timeout) {
}

caf::expected<session> session::connect(caf::actor_system& system, const std::string& host_port,
                                        caf::timespan timeout) {
  auto ep = parse_endpoint(host_port);
  if (!ep)
    return ep.error();
  auto node = dial_as<inspector_actor>(
    system, ep->host, ep->port, std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
  if (!node)
    return make_error(errc::unavailable,
                      "cannot reach " + host_port + ": " + message_of(node.error()));
  return session{system, std::move(*node), host_port, timeout};
}

caf::expected<std::string> session::run(const std::string& line) {
  caf::scoped_actor self{*system_};
  caf::expected<std::string> out{make_error(errc::internal, "no answer")};
  self->request(node_, timeout_, inspect_atom::value, line)
    .receive([&](std::string& text) { out = std::move(text); },
             [&](caf::error& err) { out = std::move(err); });
  return out;
}

}  // namespace dmoe::shell
