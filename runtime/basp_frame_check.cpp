// The guard's decisions on BASP frames (basp_frame_check, runtime/wire_guard.hpp), apart from
// any socket.
#include <set>
#include <string_view>

#include <caf/binary_deserializer.hpp>
#include <caf/io/basp/header.hpp>
#include <caf/io/basp/message_type.hpp>
#include <caf/message_id.hpp>

#include "runtime/wire_guard.hpp"

namespace dmoe {

namespace basp = caf::io::basp;

basp_frame_check::basp_frame_check(caf::node_id self, uint64_t max_frame_bytes,
                                   std::function<bool(caf::actor_id)> accepts,
                                   reply_check answers)
  : self_(std::move(self)),
    max_frame_bytes_(max_frame_bytes),
    accepts_(std::move(accepts)),
    answers_(std::move(answers)) {
}

namespace {

/// A message id without its flags (response, answered, category): what a reply and its request
/// share.
uint64_t request_number(uint64_t message_id) {
  return message_id & caf::message_id::request_id_mask;
}

}  // namespace

std::vector<basp_frame_check::request> basp_frame_check::sent(const char* data, size_t size) {
  std::vector<request> out;
  while (size > 0) {
    if (out_payload_left_ > 0) {
      auto n = static_cast<size_t>(std::min<uint64_t>(out_payload_left_, size));
      out_payload_left_ -= n;
      data += n;
      size -= n;
      continue;
    }
    auto n = std::min(basp::header_size - out_header_.size(), size);
    out_header_.insert(out_header_.end(), data, data + n);
    data += n;
    size -= n;
    if (out_header_.size() < basp::header_size)
      break;
    basp::header hdr;
    caf::binary_deserializer source{nullptr, out_header_.data(), out_header_.size()};
    out_header_.clear();
    if (source(hdr))
      continue;  // cannot happen: CAF wrote it
    out_payload_left_ = hdr.payload_len;
    if (hdr.operation == basp::message_type::direct_message
        && caf::make_message_id(hdr.operation_data).is_request())
      out.push_back({hdr.source_actor, request_number(hdr.operation_data)});
  }
  return out;
}

basp_frame_check::verdict basp_frame_check::check(const char* data, size_t size) {
  auto expected = next_;
  next_ = expecting::header;
  switch (expected) {
    case expecting::header:
      return check_header(data, size);
    case expecting::payload:
      return check_payload(data, size);
    case expecting::held_payload:
      return check_held_payload(data, size);
    case expecting::doomed_payload:
      return check_doomed_payload(data, size);
    case expecting::skipped_payload:
      break;
  }
  return {action::drop, {}};
}

basp_frame_check::verdict basp_frame_check::check_header(const char* data, size_t size) {
  using op = basp::message_type;
  auto close = [](std::string why) { return verdict{action::close, std::move(why)}; };
  if (size != basp::header_size)
    return close("read " + std::to_string(size) + " bytes where a BASP header was due");
  basp::header hdr;
  caf::binary_deserializer source{nullptr, data, size};
  if (auto err = source(hdr))
    return close("unreadable BASP header");
  if (hdr.payload_len > max_frame_bytes_)
    return close("a frame of " + std::to_string(hdr.payload_len)
                 + " bytes exceeds limits.max-frame-bytes (" + std::to_string(max_frame_bytes_)
                 + ")");
  operation_ = static_cast<uint8_t>(hdr.operation);
  payload_len_ = hdr.payload_len;
  // A message without payload is invalid BASP: the broker closes the connection itself.
  auto then = [&](expecting what, verdict v) {
    if (payload_len_ > 0)
      next_ = what;
    else if (v.what != action::deliver)
      v = verdict{action::deliver, {}};
    return v;
  };
  auto skip = [&](std::string why, bool routine) {
    return then(expecting::skipped_payload, verdict{action::skip, std::move(why), routine});
  };
  auto doom = [&](std::string why) {
    doom_ = std::move(why);
    return then(expecting::doomed_payload, verdict{action::hold, {}});
  };
  switch (hdr.operation) {
    case op::server_handshake:
    case op::client_handshake:
    case op::heartbeat:
    case op::down_message:  // about the peer's own actors: only their proxies here go down
      break;
    case op::routed_message:
      return close("a routed message (dmoe nodes do not relay)");
    case op::direct_message:
      if (caf::make_message_id(hdr.operation_data).is_response()) {
        if (!handshake_seen_
            || !answers_(peer_, hdr.dest_actor, request_number(hdr.operation_data)))
          return skip("a reply to actor " + std::to_string(hdr.dest_actor)
                      + " answering no request this node sent there", false);
        held_reply_ = true;  // its content is checked: plain data only
        return then(expecting::held_payload, verdict{action::hold, {}});
      }
      held_reply_ = false;
      if (hdr.has(basp::header::named_receiver_flag))
        return doom("a message to a receiver by name");
      if (hdr.source_actor == 0)
        return doom("an anonymous message to actor " + std::to_string(hdr.dest_actor));
      if (!accepts_(hdr.dest_actor))
        return doom("a message to actor " + std::to_string(hdr.dest_actor)
                    + ", which takes only replies from the network");
      return then(expecting::held_payload, verdict{action::hold, {}});
    case op::monitor_message:
      // Every CAF node monitors a new peer's ConfigServ (see check_doomed_payload).
      if (!accepts_(hdr.dest_actor))
        return skip("a request to monitor actor " + std::to_string(hdr.dest_actor), true);
      break;
    default:
      return close("an unknown BASP operation");
  }
  return then(expecting::payload, verdict{action::deliver, {}});
}

basp_frame_check::verdict basp_frame_check::check_payload(const char* data, size_t size) {
  using op = basp::message_type;
  auto close = [](std::string why) { return verdict{action::close, std::move(why)}; };
  if (size != payload_len_)
    return close("read " + std::to_string(size) + " bytes of a " + std::to_string(payload_len_)
                 + "-byte payload");
  auto operation = static_cast<op>(operation_);
  caf::binary_deserializer source{nullptr, data, size};
  switch (operation) {
    case op::client_handshake:
    case op::server_handshake: {
      caf::node_id claimed;
      if (auto err = source(claimed))
        return close("an unreadable handshake");
      // A client handshake with this node's id would make the broker take everything that
      // follows on the connection for local messages. (A server handshake with it is how a
      // node that dials itself learns so; the broker closes that connection.)
      if (operation == op::client_handshake && claimed == self_)
        return {action::close, "a client handshake with this node's own id", false, true};
      // The node a connection speaks for is fixed by its first handshake: the broker would
      // otherwise take a second one as a new route to whatever node it names.
      if (handshake_seen_ && claimed != peer_)
        return close("a handshake claiming node " + to_string(claimed) + " on a connection of node "
                     + to_string(peer_));
      peer_ = claimed;
      handshake_seen_ = true;
      break;
    }
    case op::down_message:
    case op::monitor_message: {
      // CAF takes the node these are about from the payload: a peer could otherwise kill the
      // proxies of a third node's actors here (its servers then look dead), or have the broker
      // relay the message to another node.
      caf::node_id about;
      caf::node_id to;
      if (auto err = source(about, to))
        return close("an unreadable down or monitor message");
      auto what = operation == op::down_message ? "a down message" : "a monitor message";
      if (!handshake_seen_ || about != peer_)
        return close(std::string{what} + " about node " + to_string(about)
                     + (handshake_seen_ ? " from node " + to_string(peer_)
                                        : " before a handshake"));
      if (to != self_)
        return close(std::string{what} + " for node " + to_string(to)
                     + " (dmoe nodes do not relay)");
      break;
    }
    default:
      break;
  }
  return {action::deliver, {}};
}

namespace {

/// CAF's names of the types a dmoe request may carry after its first atom: plain data.
bool is_plain_data(std::string_view type) {
  static const std::set<std::string_view> plain{
    "@atom", "@str", "@strvec", "@charbuf", "@u8",   "@u16",  "@u32",          "@u64",
    "@i8",   "@i16", "@i32",    "@i64",     "float", "double", "bool", "dmoe::payload"};
  return plain.count(type) > 0;
}

/// CAF's name for the types of the message content `data` (a BASP direct message's payload),
/// "@<>+T1+T2..."; empty when it has a forwarding stack or cannot be read.
std::string types_of(const char* data, size_t size) {
  caf::binary_deserializer source{nullptr, data, size};
  size_t stages = 0;
  if (source.begin_sequence(stages) || stages != 0)
    return {};
  uint16_t type_nr = 0;
  std::string types;
  if (source.begin_object(type_nr, types) || type_nr != 0)
    return {};
  return types;
}

/// Why `rest` (types after a prefix, each "+T") is not plain data, `also` allowed too: empty
/// when it is.
std::string not_plain(const std::string& types, std::string_view rest, std::string_view also) {
  while (!rest.empty()) {
    rest.remove_prefix(1);  // '+'
    auto type = rest.substr(0, rest.find('+'));
    if (!is_plain_data(type) && type != also)
      return "a message of types " + types + " (" + std::string{type} + " is not plain data)";
    rest.remove_prefix(type.size());
  }
  return {};
}

/// Why the message content `data` is not a dmoe request: empty when it is one.
std::string not_a_request(const char* data, size_t size) {
  auto types = types_of(data, size);
  if (types.empty())
    return "a message with a forwarding stack or unreadable types";
  // CAF names a message's types "@<>+T1+T2...".
  constexpr std::string_view prefix = "@<>+@atom";
  if (types.rfind(prefix, 0) != 0)
    return "a message of types " + types + " (not a request: they start with an atom)";
  std::string_view rest{types};
  rest.remove_prefix(prefix.size());
  return not_plain(types, rest, {});
}

/// Why the message content `data` is not a reply of plain data (or an error): empty when it is
/// one. Actor handles in a reply would make CAF create proxies, and routes, for any node id.
std::string not_a_plain_reply(const char* data, size_t size) {
  auto types = types_of(data, size);
  if (types.empty())
    return "a reply with a forwarding stack or unreadable types";
  constexpr std::string_view prefix = "@<>";
  if (types.rfind(prefix, 0) != 0)
    return "a reply of types " + types;
  std::string_view rest{types};
  rest.remove_prefix(prefix.size());
  return not_plain(types, rest, "@error");
}

}  // namespace

basp_frame_check::verdict basp_frame_check::check_held_payload(const char* data, size_t size) {
  if (size != payload_len_)
    return {action::close, "read " + std::to_string(size) + " bytes of a "
                             + std::to_string(payload_len_) + "-byte payload"};
  if (auto why = held_reply_ ? not_a_plain_reply(data, size) : not_a_request(data, size);
      !why.empty())
    return {action::drop, std::move(why)};
  return {action::release, {}};
}

basp_frame_check::verdict basp_frame_check::check_doomed_payload(const char* data, size_t size) {
  auto why = std::exchange(doom_, {});
  if (size != payload_len_)
    return {action::close, "read " + std::to_string(size) + " bytes of a "
                             + std::to_string(payload_len_) + "-byte payload"};
  // Every CAF node asks a new peer who it is, ('sys', 'get', "info") to its SpawnServ by
  // name, and the peer answers to the asking actor with a message, not a reply.
  auto types = types_of(data, size);
  bool routine = types == "@<>+@atom+@atom+@str" || types == "@<>+@atom+@str+@strong_actor_ptr+@str";
  return {action::drop, why + " (" + (types.empty() ? "unreadable" : types) + ")", routine};
}

}  // namespace dmoe
