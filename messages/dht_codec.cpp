#include "messages/dht_codec.hpp"

#include <cmath>
#include <cstring>

#include <capnp/message.h>

#include "messages/schema/dht.capnp.h"

namespace dmoe::dht {

namespace {

// -- encoding -------------------------------------------------------------------------------------

capnp::Data::Reader bytes_of(const id160& id) {
  return {id.data(), id.size()};
}

capnp::Data::Reader bytes_of(const std::string& s) {
  return {reinterpret_cast<const kj::byte*>(s.data()), s.size()};
}

void write_node(wire::NodeInfo::Builder out, const node_info& in) {
  out.setNodeId(bytes_of(in.id));
  out.setEndpoint(capnp::Text::Reader(in.endpoint.c_str(), in.endpoint.size()));
  if (!in.public_key.empty())
    out.setPublicKey(bytes_of(in.public_key));
}

void write_nodes(capnp::List<wire::NodeInfo>::Builder out, const std::vector<node_info>& in) {
  for (size_t i = 0; i < in.size(); ++i)
    write_node(out[i], in[i]);
}

void write_items(capnp::List<wire::Item>::Builder out, const std::vector<item>& in) {
  for (size_t i = 0; i < in.size(); ++i) {
    out[i].setSubkey(bytes_of(in[i].subkey));
    out[i].setValue(bytes_of(in[i].value));
    out[i].setExpiration(in[i].expiration);
    if (!in[i].signature.empty())
      out[i].setSignature(bytes_of(in[i].signature));
  }
}

// -- decoding -------------------------------------------------------------------------------------

caf::error invalid(std::string what) {
  return make_error(errc::invalid_argument, std::move(what));
}

caf::expected<id160> read_id(capnp::Data::Reader in, const char* field) {
  if (in.size() != id_bytes)
    return invalid(std::string(field) + " must be " + std::to_string(id_bytes) + " bytes, got "
                   + std::to_string(in.size()));
  id160 out;
  std::memcpy(out.data(), in.begin(), id_bytes);
  return out;
}

caf::expected<node_info> read_node(wire::NodeInfo::Reader in, const codec_limits& limits) {
  auto id = read_id(in.getNodeId(), "nodeId");
  if (!id)
    return id.error();
  auto endpoint = in.getEndpoint();
  if (endpoint.size() > limits.max_endpoint_bytes)
    return make_error(errc::limit_exceeded, "endpoint of " + std::to_string(endpoint.size())
                                              + " bytes exceeds the limit of "
                                              + std::to_string(limits.max_endpoint_bytes));
  // "host:port": a NUL would cut it short when it is sent on, a control byte would forge log lines.
  for (unsigned char c : endpoint)
    if (c < 0x20 || c == 0x7f)
      return invalid("an endpoint with a control byte");
  auto key = in.getPublicKey();
  if (key.size() != 0 && key.size() != node_public_key_bytes)
    return invalid("publicKey must be " + std::to_string(node_public_key_bytes)
                   + " bytes or absent, got " + std::to_string(key.size()));
  return node_info{*id, std::string(endpoint.cStr(), endpoint.size()),
                   std::string(reinterpret_cast<const char*>(key.begin()), key.size())};
}

caf::expected<std::vector<node_info>> read_nodes(capnp::List<wire::NodeInfo>::Reader in,
                                                 const codec_limits& limits) {
  if (in.size() > limits.max_contacts_per_message)
    return make_error(errc::limit_exceeded, std::to_string(in.size())
                                              + " contacts exceed the limit of "
                                              + std::to_string(limits.max_contacts_per_message));
  std::vector<node_info> out;
  out.reserve(in.size());
  for (auto node : in) {
    auto info = read_node(node, limits);
    if (!info)
      return info.error();
    out.push_back(std::move(*info));
  }
  return out;
}

caf::expected<std::vector<item>> read_items(capnp::List<wire::Item>::Reader in,
                                            const codec_limits& limits) {
  if (in.size() > limits.max_items_per_message)
    return make_error(errc::limit_exceeded, std::to_string(in.size())
                                              + " items exceed the limit of "
                                              + std::to_string(limits.max_items_per_message));
  std::vector<item> out;
  out.reserve(in.size());
  for (auto x : in) {
    auto subkey = x.getSubkey();
    auto value = x.getValue();
    if (subkey.size() > limits.max_subkey_bytes)
      return make_error(errc::limit_exceeded, "subkey of " + std::to_string(subkey.size())
                                                + " bytes exceeds the limit of "
                                                + std::to_string(limits.max_subkey_bytes));
    if (value.size() > limits.max_value_bytes)
      return make_error(errc::limit_exceeded, "value of " + std::to_string(value.size())
                                                + " bytes exceeds the limit of "
                                                + std::to_string(limits.max_value_bytes));
    if (!std::isfinite(x.getExpiration()))
      return invalid("expiration must be a finite number of seconds");
    auto signature = x.getSignature();
    if (signature.size() != 0 && signature.size() != item_signature_bytes)
      return invalid("a signature of " + std::to_string(signature.size()) + " bytes (expected 0 or "
                     + std::to_string(item_signature_bytes) + ")");
    out.push_back(item{std::string(reinterpret_cast<const char*>(subkey.begin()), subkey.size()),
                       std::string(reinterpret_cast<const char*>(value.begin()), value.size()),
                       x.getExpiration(),
                       std::string(reinterpret_cast<const char*>(signature.begin()),
                                   signature.size())});
  }
  return out;
}

}  // namespace

payload encode(const request& req) {
  capnp::MallocMessageBuilder message;
  auto out = message.initRoot<wire::DhtRequest>();
  write_node(out.initSender(), req.sender);
  std::visit(
    [&](const auto& body) {
      using T = std::decay_t<decltype(body)>;
      if constexpr (std::is_same_v<T, ping_request>) {
        out.setPing();
      } else if constexpr (std::is_same_v<T, store_request>) {
        auto store = out.initStore();
        store.setKey(bytes_of(body.key));
        write_items(store.initItems(body.items.size()), body.items);
      } else if constexpr (std::is_same_v<T, find_node_request>) {
        out.setFindNode(bytes_of(body.target));
      } else {
        out.setFindValue(bytes_of(body.key));
      }
    },
    req.body);
  if (!req.nonce.empty())
    out.setNonce(bytes_of(req.nonce));
  return to_payload(message);
}

payload encode(const response& resp) {
  capnp::MallocMessageBuilder message;
  auto out = message.initRoot<wire::DhtResponse>();
  write_node(out.initResponder(), resp.responder);
  std::visit(
    [&](const auto& body) {
      using T = std::decay_t<decltype(body)>;
      if constexpr (std::is_same_v<T, pong>) {
        out.setPong();
      } else if constexpr (std::is_same_v<T, store_result>) {
        auto accepted = out.initStore().initAccepted(body.accepted.size());
        for (size_t i = 0; i < body.accepted.size(); ++i)
          accepted.set(i, body.accepted[i]);
      } else if constexpr (std::is_same_v<T, find_node_result>) {
        write_nodes(out.initFindNode(body.nodes.size()), body.nodes);
      } else if constexpr (std::is_same_v<T, find_value_result>) {
        auto found = out.initFindValue();
        write_items(found.initItems(body.items.size()), body.items);
        write_nodes(found.initCloser(body.closer.size()), body.closer);
      } else {
        write_error(out.initError(), body);
      }
    },
    resp.body);
  if (!resp.key_proof.empty())
    out.setKeyProof(bytes_of(resp.key_proof));
  return to_payload(message);
}

caf::expected<request> decode_request(const payload& in, const codec_limits& limits) {
  return decode<wire::DhtRequest>(
    in, limits.wire, [&](wire::DhtRequest::Reader r) -> caf::expected<request> {
      request out;
      auto sender = read_node(r.getSender(), limits);
      if (!sender)
        return sender.error();
      out.sender = std::move(*sender);
      auto nonce = r.getNonce();
      if (nonce.size() > max_nonce_bytes)
        return invalid("a nonce of more than " + std::to_string(max_nonce_bytes) + " bytes");
      out.nonce.assign(reinterpret_cast<const char*>(nonce.begin()), nonce.size());
      switch (r.which()) {
        case wire::DhtRequest::PING:
          out.body = ping_request{};
          break;
        case wire::DhtRequest::STORE: {
          auto store = r.getStore();
          auto key = read_id(store.getKey(), "key");
          if (!key)
            return key.error();
          auto items = read_items(store.getItems(), limits);
          if (!items)
            return items.error();
          out.body = store_request{*key, std::move(*items)};
          break;
        }
        case wire::DhtRequest::FIND_NODE: {
          auto target = read_id(r.getFindNode(), "target");
          if (!target)
            return target.error();
          out.body = find_node_request{*target};
          break;
        }
        case wire::DhtRequest::FIND_VALUE: {
          auto key = read_id(r.getFindValue(), "key");
          if (!key)
            return key.error();
          out.body = find_value_request{*key};
          break;
        }
        default:
          return make_error(errc::malformed, "unknown DHT request kind");
      }
      return out;
    });
}

caf::expected<response> decode_response(const payload& in, const codec_limits& limits) {
  return decode<wire::DhtResponse>(
    in, limits.wire, [&](wire::DhtResponse::Reader r) -> caf::expected<response> {
      response out;
      auto responder = read_node(r.getResponder(), limits);
      if (!responder)
        return responder.error();
      out.responder = std::move(*responder);
      auto proof = r.getKeyProof();
      if (proof.size() != 0 && proof.size() != item_signature_bytes)
        return invalid("keyProof must be " + std::to_string(item_signature_bytes)
                       + " bytes or absent, got " + std::to_string(proof.size()));
      out.key_proof.assign(reinterpret_cast<const char*>(proof.begin()), proof.size());
      switch (r.which()) {
        case wire::DhtResponse::PONG:
          out.body = pong{};
          break;
        case wire::DhtResponse::STORE: {
          auto accepted = r.getStore().getAccepted();
          if (accepted.size() > limits.max_items_per_message)
            return make_error(errc::limit_exceeded, "too many store results");
          store_result result;
          for (auto flag : accepted)
            result.accepted.push_back(flag);
          out.body = std::move(result);
          break;
        }
        case wire::DhtResponse::FIND_NODE: {
          auto nodes = read_nodes(r.getFindNode(), limits);
          if (!nodes)
            return nodes.error();
          out.body = find_node_result{std::move(*nodes)};
          break;
        }
        case wire::DhtResponse::FIND_VALUE: {
          auto found = r.getFindValue();
          auto items = read_items(found.getItems(), limits);
          if (!items)
            return items.error();
          auto closer = read_nodes(found.getCloser(), limits);
          if (!closer)
            return closer.error();
          out.body = find_value_result{std::move(*items), std::move(*closer)};
          break;
        }
        case wire::DhtResponse::ERROR:
          out.body = read_error(r.getError());
          break;
        default:
          return make_error(errc::malformed, "unknown DHT response kind");
      }
      return out;
    });
}

}  // namespace dmoe::dht
