#include "runtime/wire_guard.hpp"

#include <caf/io/middleman.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/doorman_impl.hpp>

#include "runtime/node_dial.hpp"
#include "runtime/wire_guard_state.hpp"

namespace dmoe {

namespace {

namespace network = caf::io::network;
using namespace wire_guard_detail;

network::default_multiplexer& multiplexer_of(caf::actor_system& system) {
  return dynamic_cast<network::default_multiplexer&>(system.middleman().backend());
}

class guarded_doorman final : public network::doorman_impl {
public:
  using network::doorman_impl::doorman_impl;

  bool new_connection() override {
    if (detached())
      return false;  // the broker let go while the accept was pending (as doorman_impl)
    auto& mx = acceptor_.backend();
    auto fd = acceptor_.accepted_socket();
    if (!admit(mx.system().node(), fd)) {
      network::close_socket(fd);
      return true;  // keep accepting
    }
    auto scribe = make_scribe(mx, fd, false);
    auto hdl = scribe->hdl();
    parent()->add_scribe(std::move(scribe));
    return caf::io::doorman::new_connection(&mx, hdl);
  }
};

}  // namespace

void set_wire_guard_options(caf::actor_system& system, wire_guard_options options) {
  auto state = state_of(system.node());
  std::lock_guard<std::mutex> lock{state->mutex};
  state->options = std::move(options);
}

caf::error set_wire_guard_options(caf::actor_system& system, wire_guard_options options,
                                  const tls_options& tls) {
  if (tls.enabled()) {
    auto context = tls_context::load(tls);
    if (!context)
      return context.error();
    options.tls = std::move(*context);
  }
  set_wire_guard_options(system, std::move(options));
  return caf::none;
}

void accept_from_network(caf::actor_system& system, caf::actor_id id) {
  auto state = state_of(system.node());
  std::lock_guard<std::mutex> lock{state->mutex};
  state->accepting.insert(id);
}

std::string peer_identity(caf::actor_system& system, const caf::node_id& peer) {
  auto state = state_of(system.node());
  std::lock_guard<std::mutex> lock{state->mutex};
  auto i = state->identities.find(peer);
  return i != state->identities.end() ? i->second.who : "node " + caf::to_string(peer);
}

std::string caller_identity(caf::local_actor* self, const caf::node_id& origin) {
  return origin == self->node() ? std::string{} : peer_identity(self->system(), origin);
}

std::string caller_identity(caf::local_actor* self) {
  auto sender = self->current_sender();
  return sender ? caller_identity(self, sender->node()) : std::string{};
}

std::string wire_source_address(caf::actor_system& system) {
  auto state = state_of(system.node());
  std::lock_guard<std::mutex> lock{state->mutex};
  return state->options.source_address;
}

std::shared_ptr<const tls_context> wire_tls(caf::actor_system& system) {
  auto state = state_of(system.node());
  std::lock_guard<std::mutex> lock{state->mutex};
  return state->options.tls;
}

void keep_secured_dial(caf::actor_system& system, int fd, ssl_ptr session) {
  auto state = state_of(system.node());
  std::lock_guard<std::mutex> lock{state->mutex};
  state->secured_dials[fd] = std::move(session);
}

caf::io::scribe_ptr guarded_scribe(caf::actor_system& system, int fd) {
  return make_scribe(multiplexer_of(system), fd, true);
}

caf::expected<uint16_t> publish_guarded(caf::actor_system& system, const caf::actor& whom,
                                        uint16_t port, const std::string& host, bool reuse_addr,
                                        std::set<std::string> interface) {
  auto& mx = multiplexer_of(system);
  auto fd = network::new_tcp_acceptor_impl(port, host.empty() ? nullptr : host.c_str(),
                                           reuse_addr);
  if (!fd)
    return fd.error();
  auto doorman = caf::make_counted<guarded_doorman>(mx, *fd);
  auto bound = doorman->port();
  accept_from_network(system, whom.id());
  // What the middleman's publish sends the broker once it has opened its own doorman.
  caf::anon_send(basp_broker(system), caf::publish_atom::value,
                 caf::io::doorman_ptr{std::move(doorman)}, bound,
                 caf::actor_cast<caf::strong_actor_ptr>(whom), std::move(interface));
  return bound;
}

}  // namespace dmoe
