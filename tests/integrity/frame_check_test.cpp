// The wire guard's frame decisions (runtime/wire_guard.hpp) on headers and payloads made here:
// no sockets.
#define CAF_SUITE integrity.frame_check
#include <caf/test/unit_test.hpp>

#include <set>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/io/basp/header.hpp>
#include <caf/io/basp/message_type.hpp>
#include <caf/message_id.hpp>

#include "runtime/awaited_replies.hpp"
#include "runtime/wire_guard.hpp"

using namespace dmoe;
namespace basp = caf::io::basp;
using action = basp_frame_check::action;

namespace {

constexpr uint64_t max_frame = 1 << 20;
constexpr caf::actor_id gateway_id = 7;
constexpr caf::actor_id other_id = 8;
constexpr caf::actor_id sender_id = 42;

caf::node_id node(uint32_t process) {
  return *caf::make_node_id(process, "0102030405060708090a0b0c0d0e0f1011121314");
}

std::vector<char> bytes_of(basp::header hdr) {
  std::vector<char> out;
  caf::binary_serializer sink{nullptr, out};
  if (auto err = sink(hdr))
    CAF_FAIL("cannot serialize a header");
  return out;
}

template <class... Ts>
std::vector<char> serialized(Ts&&... xs) {
  std::vector<char> out;
  caf::binary_serializer sink{nullptr, out};
  if (auto err = sink(std::forward<Ts>(xs)...))
    CAF_FAIL("cannot serialize");
  return out;
}

basp::header header(basp::message_type op, uint32_t payload_len, caf::actor_id source,
                    caf::actor_id dest, uint64_t operation_data = 0, uint8_t flags = 0) {
  return basp::header{op, flags, payload_len, operation_data, source, dest};
}

/// A direct message's payload as CAF lays it out: no forwarding stack, then the message, whose
/// types CAF names "@<>+T1+T2..." (what follows the name is not read by the guard).
std::vector<char> content(const std::string& types) {
  std::vector<char> out;
  caf::binary_serializer sink{nullptr, out};
  size_t no_stages = 0;
  uint16_t by_name = 0;
  auto name = types;
  if (sink.begin_sequence(no_stages) || sink.end_sequence() || sink.begin_object(by_name, name))
    CAF_FAIL("cannot serialize");
  out.resize(out.size() + 40, 'v');
  return out;
}

uint64_t request_id() {
  return caf::make_message_id(5).integer_value();
}

uint64_t response_id() {
  return caf::make_message_id(5).response_id().integer_value();
}

/// What request_id() and response_id() share.
uint64_t request_number() {
  return caf::make_message_id(5).integer_value() & caf::message_id::request_id_mask;
}

struct fixture {
  caf::node_id self = node(1);
  awaited_replies awaited;
  basp_frame_check check{self, max_frame, [](caf::actor_id id) { return id == gateway_id; },
                         [this](const caf::node_id& peer, caf::actor_id id, uint64_t request) {
                           return awaited.answered(peer, id, request);
                         }};

  basp_frame_check::verdict send_header(basp::header hdr) {
    auto bytes = bytes_of(hdr);
    return check.check(bytes.data(), bytes.size());
  }
  basp_frame_check::verdict send_payload(const std::vector<char>& bytes) {
    return check.check(bytes.data(), bytes.size());
  }
  /// A client handshake from `peer`, which must pass.
  void handshake(const caf::node_id& peer) {
    auto claim = serialized(peer);
    CAF_REQUIRE(send_header(header(basp::message_type::client_handshake, claim.size(), 0, 0)).what
                == action::deliver);
    CAF_REQUIRE(send_payload(claim).what == action::deliver);
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(frame_check_tests, fixture)

CAF_TEST(a request to the gateway is held until its content shows a dmoe request) {
  auto request = content("@<>+@atom+dmoe::payload");
  auto v = send_header(header(basp::message_type::direct_message, request.size(), sender_id,
                              gateway_id, request_id()));
  CAF_CHECK(v.what == action::hold);
  CAF_CHECK_EQUAL(check.next_read(), request.size());
  CAF_CHECK(send_payload(request).what == action::release);
  // And the next header is read as a header again.
  CAF_CHECK(send_header(header(basp::message_type::heartbeat, 0, 0, 0)).what == action::deliver);
  for (auto types : {"@<>+@atom+@str+@str+@str+double", "@<>+@atom+@u64+@u64+dmoe::payload",
                     "@<>+@atom"}) {
    auto body = content(types);
    CAF_CHECK(send_header(header(basp::message_type::direct_message, body.size(), sender_id,
                                 gateway_id, request_id()))
                .what
              == action::hold);
    CAF_MESSAGE(types);
    CAF_CHECK(send_payload(body).what == action::release);
  }
}

CAF_TEST(exit down error and link messages to the gateway are dropped) {
  for (auto types : {"@<>+@exit", "@<>+@down", "@<>+@error", "@<>+@atom+@strong_actor_ptr",
                     "@<>+@str", "@<>+@atom+@actor", "@<>+@atom+@message"}) {
    auto body = content(types);
    CAF_CHECK(send_header(header(basp::message_type::direct_message, body.size(), sender_id,
                                 gateway_id))
                .what
              == action::hold);
    CAF_MESSAGE(types);
    auto v = send_payload(body);
    CAF_CHECK(v.what == action::drop);
    CAF_CHECK(v.why.find(types) != std::string::npos);
  }
  // A message carrying a forwarding stack is dropped whatever it holds.
  std::vector<char> staged;
  caf::binary_serializer sink{nullptr, staged};
  size_t one_stage = 1;
  CAF_REQUIRE(!sink.begin_sequence(one_stage));
  staged.resize(64, 0);
  CAF_CHECK(send_header(header(basp::message_type::direct_message, staged.size(), sender_id,
                               gateway_id))
              .what
            == action::hold);
  CAF_CHECK(send_payload(staged).what == action::drop);
}

CAF_TEST(a frame larger than the limit closes the connection) {
  auto v = send_header(header(basp::message_type::direct_message, 0xFFFFFFF0u, sender_id,
                              gateway_id, request_id()));
  CAF_CHECK(v.what == action::close);
  CAF_CHECK(v.why.find("max-frame-bytes") != std::string::npos);
  // Exactly the limit is fine.
  fixture fresh;
  CAF_CHECK(fresh.send_header(header(basp::message_type::direct_message, max_frame, sender_id,
                                     gateway_id, request_id()))
              .what
            == action::hold);
}

CAF_TEST(a routed message closes the connection) {
  auto v = send_header(header(basp::message_type::routed_message, 64, sender_id, gateway_id));
  CAF_CHECK(v.what == action::close);
  CAF_CHECK(v.why.find("routed") != std::string::npos);
}

CAF_TEST(messages to actors not open to the network are skipped and awaited replies pass) {
  handshake(node(2));
  awaited.sent(node(2), other_id, request_number());
  auto request = content("@<>+@atom+dmoe::payload");
  auto v = send_header(header(basp::message_type::direct_message, request.size(), sender_id,
                              other_id, request_id()));
  CAF_CHECK(v.what == action::hold);  // read, to say what was dropped
  CAF_CHECK_EQUAL(check.next_read(), request.size());
  auto dropped = send_payload(request);
  CAF_CHECK(dropped.what == action::drop);
  CAF_CHECK(!dropped.routine);
  CAF_CHECK(dropped.why.find("takes only replies") != std::string::npos);
  auto answer = content("@<>+dmoe::payload");
  auto reply = send_header(header(basp::message_type::direct_message, answer.size(), sender_id,
                                  other_id, response_id()));
  CAF_CHECK(reply.what == action::hold);
  CAF_CHECK(send_payload(answer).what == action::release);
  // An asynchronous message (no request id) to it is skipped too.
  CAF_CHECK(send_header(header(basp::message_type::direct_message, 20, sender_id, other_id))
              .what
            == action::hold);
  CAF_CHECK(send_payload(std::vector<char>(20, 's')).what == action::drop);
  // What every CAF node answers a new peer's question "who are you" with is dropped quietly.
  auto info = content("@<>+@atom+@str+@strong_actor_ptr+@str");
  CAF_CHECK(send_header(header(basp::message_type::direct_message, info.size(), sender_id,
                               other_id))
              .what
            == action::hold);
  auto quiet = send_payload(info);
  CAF_CHECK(quiet.what == action::drop);
  CAF_CHECK(quiet.routine);
}

CAF_TEST(a reply passes only once and only from the node its request went to) {
  handshake(node(2));
  auto answer = content("@<>+dmoe::payload");
  auto reply = [&](caf::actor_id to) {
    auto v = send_header(header(basp::message_type::direct_message, answer.size(), sender_id, to,
                                response_id()));
    auto p = send_payload(answer);  // checked, or read past when skipped
    return v.what == action::hold ? p : v;
  };
  // Not awaited: a peer that learned the id of a request sent elsewhere cannot answer it.
  awaited.sent(node(3), other_id, request_number());
  auto forged = reply(other_id);
  CAF_CHECK(forged.what == action::skip);
  CAF_CHECK(forged.why.find("answering no request this node sent there") != std::string::npos);
  // Awaited from this peer: once.
  awaited.sent(node(2), other_id, request_number());
  CAF_CHECK(reply(gateway_id).what == action::skip);  // another actor's request number
  CAF_CHECK(reply(other_id).what == action::release);
  CAF_CHECK(reply(other_id).what == action::skip);
}

CAF_TEST(a reply holds plain data or an error and no actor handles) {
  handshake(node(2));
  auto reply_of = [&](const std::string& types) {
    awaited.sent(node(2), other_id, request_number());
    auto answer = content(types);
    CAF_REQUIRE(send_header(header(basp::message_type::direct_message, answer.size(), sender_id,
                                   other_id, response_id()))
                  .what
                == action::hold);
    return send_payload(answer);
  };
  CAF_CHECK(reply_of("@<>+@u64+dmoe::payload").what == action::release);
  CAF_CHECK(reply_of("@<>+@error").what == action::release);
  CAF_CHECK(reply_of("@<>").what == action::release);
  for (auto types : {"@<>+@strong_actor_ptr", "@<>+@str+@actor", "@<>+@message", "@<>+@addrvec"}) {
    auto v = reply_of(types);
    CAF_CHECK(v.what == action::drop);
    CAF_CHECK(v.why.find("is not plain data") != std::string::npos);
  }
}

CAF_TEST(the requests among the bytes sent are found wherever the bytes are cut) {
  std::vector<char> out;
  auto frame = [&](basp::header hdr, size_t payload) {
    hdr.payload_len = static_cast<uint32_t>(payload);
    auto h = bytes_of(hdr);
    out.insert(out.end(), h.begin(), h.end());
    out.insert(out.end(), payload, 'p');
  };
  frame(header(basp::message_type::server_handshake, 0, 0, 0), 30);
  frame(header(basp::message_type::direct_message, 0, sender_id, gateway_id, request_id()), 100);
  frame(header(basp::message_type::direct_message, 0, other_id, gateway_id, response_id()), 70);
  frame(header(basp::message_type::direct_message, 0, other_id, gateway_id), 10);  // async
  frame(header(basp::message_type::heartbeat, 0, 0, 0), 0);
  frame(header(basp::message_type::direct_message, 0, other_id, gateway_id,
               caf::make_message_id(9).integer_value()),
        100000);
  for (size_t cut : {size_t{1}, size_t{7}, size_t{32}, size_t{4096}, out.size()}) {
    fixture fresh;
    std::vector<basp_frame_check::request> found;
    for (size_t at = 0; at < out.size(); at += cut) {
      auto part = fresh.check.sent(out.data() + at, std::min(cut, out.size() - at));
      found.insert(found.end(), part.begin(), part.end());
    }
    CAF_REQUIRE_EQUAL(found.size(), 2u);
    CAF_CHECK_EQUAL(found[0].from, sender_id);
    CAF_CHECK_EQUAL(found[0].request, request_number());
    CAF_CHECK_EQUAL(found[1].from, other_id);
    CAF_CHECK_EQUAL(found[1].request, 9u);
  }
}

CAF_TEST(awaited replies are bounded per node and in nodes) {
  awaited_replies bounded{2, 2};
  for (uint64_t r = 1; r <= 3; ++r)
    bounded.sent(node(2), other_id, r);
  CAF_CHECK_EQUAL(bounded.awaited(node(2)), 2u);
  CAF_CHECK(!bounded.answered(node(2), other_id, 1));  // the oldest went
  CAF_CHECK(bounded.answered(node(2), other_id, 3));
  bounded.sent(node(3), other_id, 1);
  bounded.sent(node(4), other_id, 1);  // a third node: the first sent to goes
  CAF_CHECK_EQUAL(bounded.awaited(node(2)), 0u);
  CAF_CHECK(bounded.answered(node(3), other_id, 1));
  CAF_CHECK(!bounded.answered(node(4), other_id, 2));
}

CAF_TEST(anonymous and named messages are skipped even to the gateway) {
  auto exit = content("@<>+@exit");
  CAF_CHECK(send_header(header(basp::message_type::direct_message, exit.size(), 0, gateway_id))
              .what
            == action::hold);
  auto anonymous = send_payload(exit);
  CAF_CHECK(anonymous.what == action::drop);
  CAF_CHECK(anonymous.why.find("anonymous") != std::string::npos);
  auto request = content("@<>+@atom+dmoe::payload");
  CAF_CHECK(send_header(header(basp::message_type::direct_message, request.size(), sender_id,
                               gateway_id, 0, basp::header::named_receiver_flag))
              .what
            == action::hold);
  auto named = send_payload(request);
  CAF_CHECK(named.what == action::drop);
  CAF_CHECK(named.why.find("by name") != std::string::npos);
}

CAF_TEST(monitoring is allowed only for actors open to the network) {
  handshake(node(2));
  CAF_CHECK(send_header(header(basp::message_type::monitor_message, 40, 0, other_id)).what
            == action::skip);
  CAF_CHECK(send_payload(std::vector<char>(40, 's')).what == action::drop);
  auto monitor = serialized(node(2), self);
  CAF_CHECK(send_header(header(basp::message_type::monitor_message, monitor.size(), 0, gateway_id))
              .what
            == action::deliver);
  CAF_CHECK(send_payload(monitor).what == action::deliver);
}

CAF_TEST(down and monitor messages are taken only about the node of the connection and for this one) {
  // The peer's own actor went down: its proxy here goes down.
  handshake(node(2));
  auto own = serialized(node(2), self, caf::error{});
  CAF_CHECK(send_header(header(basp::message_type::down_message, own.size(), sender_id, 0)).what
            == action::deliver);
  CAF_CHECK(send_payload(own).what == action::deliver);
  // About a third node's actor: it would kill that node's proxy here.
  auto forged = serialized(node(3), self, caf::error{});
  CAF_CHECK(send_header(header(basp::message_type::down_message, forged.size(), sender_id, 0))
              .what
            == action::deliver);
  auto v = send_payload(forged);
  CAF_CHECK(v.what == action::close);
  CAF_CHECK(v.why.find("a down message about node") != std::string::npos);
  // For another node: the broker would relay it.
  fixture relay;
  relay.handshake(node(2));
  auto elsewhere = serialized(node(2), node(3));
  CAF_CHECK(relay.send_header(header(basp::message_type::monitor_message, elsewhere.size(), 0,
                                     gateway_id))
              .what
            == action::deliver);
  auto r = relay.send_payload(elsewhere);
  CAF_CHECK(r.what == action::close);
  CAF_CHECK(r.why.find("do not relay") != std::string::npos);
  // Before any handshake there is no node to be about.
  fixture early;
  CAF_CHECK(early.send_header(header(basp::message_type::down_message, own.size(), sender_id, 0))
              .what
            == action::deliver);
  CAF_CHECK(early.send_payload(own).what == action::close);
}

CAF_TEST(a second handshake claiming another node closes the connection) {
  handshake(node(2));
  handshake(node(2));  // CAF repeats its client handshake to select the connection
  auto other = serialized(node(3));
  CAF_CHECK(send_header(header(basp::message_type::client_handshake, other.size(), 0, 0)).what
            == action::deliver);
  auto v = send_payload(other);
  CAF_CHECK(v.what == action::close);
  CAF_CHECK(v.why.find("on a connection of node") != std::string::npos);
}

CAF_TEST(a client handshake claiming the id of this node closes the connection) {
  auto claim = serialized(self);
  CAF_CHECK(send_header(header(basp::message_type::client_handshake, claim.size(), 0, 0)).what
            == action::deliver);
  auto v = send_payload(claim);
  CAF_CHECK(v.what == action::close);
  CAF_CHECK(v.why.find("this node's own id") != std::string::npos);
  // Another node's id passes.
  fixture fresh;
  auto other = serialized(node(2));
  CAF_CHECK(fresh.send_header(header(basp::message_type::client_handshake, other.size(), 0, 0))
              .what
            == action::deliver);
  CAF_CHECK(fresh.send_payload(other).what == action::deliver);
}

CAF_TEST(unknown operations and misframed chunks close the connection) {
  auto bytes = bytes_of(header(basp::message_type::heartbeat, 0, 0, 0));
  bytes[0] = 0x42;
  CAF_CHECK(check.check(bytes.data(), bytes.size()).what == action::close);
  fixture fresh;
  std::vector<char> short_header(10, 0);
  CAF_CHECK(fresh.check.check(short_header.data(), short_header.size()).what == action::close);
  fixture third;
  CAF_CHECK(third.send_header(header(basp::message_type::direct_message, 100, sender_id,
                                     gateway_id, request_id()))
              .what
            == action::hold);
  CAF_CHECK(third.send_payload(std::vector<char>(99, 'x')).what == action::close);
}

CAF_TEST_FIXTURE_SCOPE_END()
