#include "actors/dht/client.hpp"

#include <set>

#include <caf/scoped_actor.hpp>

#include "actors/dht/ownership.hpp"
#include "messages/declaration.hpp"
#include "messages/type_ids.hpp"

namespace dmoe::dht {

namespace {

template <class Handle, class Atom>
caf::expected<store_outcome> put(caf::actor_system& system, const Handle& node, Atom atom,
                                 const std::string& key, const std::string& subkey_or_label,
                                 const std::string& value, double expiration,
                                 caf::timespan timeout) {
  caf::scoped_actor self{system};
  caf::expected<store_outcome> out{make_error(errc::internal, "no reply")};
  self->request(node, timeout, atom, key, subkey_or_label, value, expiration)
    .receive(
      [&](uint32_t replicas, uint32_t rounds, uint32_t requests) {
        out = store_outcome{replicas, {rounds, requests}};
      },
      [&](caf::error& err) { out = std::move(err); });
  return out;
}

}  // namespace

caf::expected<store_outcome> store(caf::actor_system& system, const access_actor& node,
                                   const std::string& key, const std::string& subkey,
                                   const std::string& value, double expiration,
                                   caf::timespan timeout) {
  return put(system, node, dht_store_atom::value, key, subkey, value, expiration, timeout);
}

caf::expected<store_outcome> declare(caf::actor_system& system, const node_actor& node,
                                     const std::string& key, const std::string& label,
                                     const std::string& value, double expiration,
                                     caf::timespan timeout) {
  return put(system, node, dht_declare_atom::value, key, label, value, expiration, timeout);
}

size_t declared_children(caf::actor_system& system, const access_actor& node,
                         const std::string& key, caf::timespan timeout) {
  auto got = get(system, node, key, timeout);
  if (!got)
    return 0;
  std::set<int64_t> children;
  for (const auto& x : got->items)
    if (auto d = decode_declaration(x.value))
      for (auto c : d->child_list())
        children.insert(c);
  return children.size();
}

caf::expected<get_outcome> get(caf::actor_system& system, const access_actor& node,
                               const std::string& key, caf::timespan timeout) {
  caf::scoped_actor self{system};
  caf::expected<get_outcome> out{make_error(errc::internal, "no reply")};
  self->request(node, timeout, dht_get_atom::value, key)
    .receive(
      [&](payload& in, uint32_t rounds, uint32_t requests) {
        auto resp = decode_response(in);
        if (!resp) {
          out = resp.error();
          return;
        }
        if (auto found = std::get_if<find_value_result>(&resp->body))
          out = get_outcome{std::move(found->items), {rounds, requests}};
        else if (auto err = std::get_if<caf::error>(&resp->body))
          out = *err;
        else
          out = make_error(errc::malformed, "unexpected reply to a get");
      },
      [&](caf::error& err) { out = std::move(err); });
  return out;
}

const item* find_subkey(const std::vector<item>& items, const std::string& subkey) {
  for (const auto& x : items)
    if (x.subkey == subkey)
      return &x;
  return nullptr;
}

const item* find_label(const std::vector<item>& items, const std::string& label) {
  for (const auto& x : items)
    if (auto parts = parse_subkey(x.subkey); parts && parts->owner && parts->label == label)
      return &x;
  return nullptr;
}

}  // namespace dmoe::dht
