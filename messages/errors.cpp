#include "messages/errors.hpp"

#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace dmoe {

namespace {

constexpr errc last_errc = errc::expert_overloaded;

wire::ErrorCode to_wire(errc code) {
  return static_cast<wire::ErrorCode>(static_cast<uint8_t>(code) - 1);
}

errc from_wire(wire::ErrorCode code) {
  auto raw = static_cast<unsigned>(code) + 1;
  if (raw > static_cast<unsigned>(last_errc))
    return errc::internal;
  return static_cast<errc>(raw);
}

}  // namespace

const char* to_string(errc code) {
  switch (code) {
    case errc::internal: return "internal";
    case errc::malformed: return "malformed";
    case errc::invalid_argument: return "invalid_argument";
    case errc::limit_exceeded: return "limit_exceeded";
    case errc::unknown_expert: return "unknown_expert";
    case errc::shape_mismatch: return "shape_mismatch";
    case errc::dtype_mismatch: return "dtype_mismatch";
    case errc::not_found: return "not_found";
    case errc::expired: return "expired";
    case errc::timeout: return "timeout";
    case errc::unavailable: return "unavailable";
    case errc::non_finite: return "non_finite";
    case errc::forbidden: return "forbidden";
    case errc::overloaded: return "overloaded";
    case errc::expert_overloaded: return "expert_overloaded";
  }
  return "internal";
}

caf::atom_value error_category() {
  return caf::atom("dmoe");
}

caf::error make_error(errc code, std::string message) {
  return caf::error{static_cast<uint8_t>(code), error_category(),
                    caf::make_message(std::move(message))};
}

errc code_of(const caf::error& err) {
  if (err.category() == error_category()) {
    auto raw = err.code();
    if (raw >= 1 && raw <= static_cast<uint8_t>(last_errc))
      return static_cast<errc>(raw);
    return errc::internal;
  }
  if (err.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(err.code())) {
      case caf::sec::request_timeout: return errc::timeout;
      case caf::sec::request_receiver_down:
      case caf::sec::no_actor_published_at_port:
      case caf::sec::cannot_connect_to_node:
      case caf::sec::remote_linking_failed: return errc::unavailable;
      case caf::sec::unexpected_message: return errc::malformed;
      default: return errc::internal;
    }
  }
  return errc::internal;
}

std::string describe(const caf::error& err) {
  if (!err)
    return "no error";
  if (err.category() == error_category()) {
    std::string text = to_string(code_of(err));
    if (err.context().match_elements<std::string>())
      text += ": " + err.context().get_as<std::string>(0);
    return text;
  }
  if (err.category() == caf::atom("system"))
    return caf::to_string(static_cast<caf::sec>(err.code()));
  return caf::to_string(err);
}

std::string message_of(const caf::error& err) {
  if (err && err.category() == error_category() && err.context().match_elements<std::string>())
    return err.context().get_as<std::string>(0);
  return describe(err);
}

void write_error(wire::ErrorReply::Builder out, const caf::error& err) {
  out.setCode(to_wire(code_of(err)));
  if (err.category() == error_category() && err.context().match_elements<std::string>())
    out.setMessage(err.context().get_as<std::string>(0));
  else
    out.setMessage(describe(err));
}

caf::error read_error(wire::ErrorReply::Reader in) {
  return make_error(from_wire(in.getCode()), std::string(in.getMessage().cStr()));
}

}  // namespace dmoe
