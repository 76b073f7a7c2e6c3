#include "actors/dht/peers.hpp"

#include <algorithm>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/node_id.hpp>

#include "messages/errors.hpp"
#include "runtime/endpoint.hpp"
#include "runtime/node_dial.hpp"

namespace dmoe::dht {

caf::behavior dial_behavior(caf::event_based_actor* self, std::set<std::string> required) {
  return {[self, required](dial_atom, const std::string& host, uint16_t port,
                           caf::timespan timeout) -> caf::result<caf::actor> {
    self->quit();
    auto peer = dial_node(self->system(), host, port,
                          std::chrono::duration_cast<std::chrono::milliseconds>(timeout),
                          required);
    if (!peer)
      return peer.error();
    return *peer;
  }};
}

void local_directory::put_actor(const std::string& endpoint, caf::actor handle) {
  std::lock_guard<std::mutex> guard{mtx_};
  entries_[endpoint] = std::move(handle);
}

caf::actor local_directory::find(const std::string& endpoint) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(endpoint);
  return i == entries_.end() ? caf::actor{} : i->second;
}

peer_resolver::peer_resolver(caf::local_actor* self, std::shared_ptr<local_directory> directory,
                             size_t max_peers, dial_function dial)
  : self_(self),
    dial_(std::move(dial)),
    directory_(std::move(directory)),
    max_peers_(std::max<size_t>(max_peers, 1)) {
}

void peer_resolver::learn(const std::string& endpoint, const caf::actor& handle) {
  if (endpoint.empty() || !handle || by_endpoint_.count(endpoint) > 0)
    return;
  while (by_endpoint_.size() >= max_peers_ && !learned_order_.empty()) {
    auto oldest = by_endpoint_.find(learned_order_.front());
    learned_order_.pop_front();
    if (oldest == by_endpoint_.end())
      continue;  // forgotten already
    self_->demonitor(oldest->second);
    by_address_.erase(oldest->second.address());
    by_endpoint_.erase(oldest);
  }
  self_->monitor(handle);
  by_endpoint_.emplace(endpoint, handle);
  by_address_[handle.address()] = endpoint;
  learned_order_.push_back(endpoint);
  if (learned_order_.size() > 2 * max_peers_)  // drop the forgotten ones' places
    learned_order_.erase(std::remove_if(learned_order_.begin(), learned_order_.end(),
                                        [this](const std::string& e) {
                                          return by_endpoint_.count(e) == 0;
                                        }),
                         learned_order_.end());
}

std::string peer_resolver::forget(const caf::actor_addr& source) {
  auto i = by_address_.find(source);
  if (i == by_address_.end())
    return {};
  auto endpoint = std::move(i->second);
  by_address_.erase(i);
  by_endpoint_.erase(endpoint);
  return endpoint;
}

void peer_resolver::resolve(const std::string& endpoint, callback done) {
  if (auto i = by_endpoint_.find(endpoint); i != by_endpoint_.end())
    return done(i->second);
  if (directory_) {
    if (auto handle = directory_->find(endpoint)) {
      learn(endpoint, handle);
      return done(handle);
    }
  }
  auto parsed = parse_endpoint(endpoint);
  if (!parsed)
    return done(parsed.error());
  if (!self_->system().has_middleman())
    return done(make_error(errc::unavailable, "no peer at " + endpoint + " in this process"));
  auto& waiting = pending_[endpoint];
  waiting.push_back(std::move(done));
  if (waiting.size() > 1)
    return;  // a connect is already under way
  dial_(parsed->host, parsed->port, [this, endpoint](caf::expected<caf::actor> peer) {
    connected(endpoint, std::move(peer));
  });
}

void peer_resolver::connected(const std::string& endpoint, caf::expected<caf::actor> result) {
  if (result)
    learn(endpoint, *result);
  auto waiting = std::move(pending_[endpoint]);
  pending_.erase(endpoint);
  for (auto& done : waiting)
    done(result);
}

}  // namespace dmoe::dht
