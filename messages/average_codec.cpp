#include "messages/average_codec.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "messages/errors.hpp"
#include "messages/schema/average.capnp.h"

namespace dmoe::avg {

namespace {

caf::error invalid(const std::string& what) {
  return make_error(errc::invalid_argument, what);
}

wire::VectorEncoding to_wire(encoding e) {
  switch (e) {
    case encoding::float16:
      return wire::VectorEncoding::FLOAT16;
    case encoding::int8:
      return wire::VectorEncoding::INT8;
    default:
      return wire::VectorEncoding::FLOAT32;
  }
}

caf::expected<encoding> from_wire(wire::VectorEncoding e) {
  switch (e) {
    case wire::VectorEncoding::FLOAT32:
      return encoding::float32;
    case wire::VectorEncoding::FLOAT16:
      return encoding::float16;
    case wire::VectorEncoding::INT8:
      return encoding::int8;
  }
  return invalid("unknown vector encoding");
}

uint32_t blocks_of(uint32_t count) {
  return (count + block_elements - 1) / block_elements;
}

size_t data_bytes(encoding e, uint32_t count) {
  switch (e) {
    case encoding::float16:
      return 2ull * count;
    case encoding::int8:
      return count;
    default:
      return 4ull * count;
  }
}

kj::ArrayPtr<const kj::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const kj::byte*>(s.data()), s.size()};
}

void write_member(wire::Member::Builder out, const member& m) {
  out.setId(m.id);
  out.setEndpoint(m.endpoint);
  out.setOuterStep(m.outer_step);
  out.setFingerprint(m.fingerprint);
  out.setWeight(m.weight);
  out.setElements(m.elements);
}

caf::expected<member> read_member(wire::Member::Reader in) {
  member m;
  m.id = in.getId().cStr();
  m.endpoint = in.getEndpoint().cStr();
  m.outer_step = in.getOuterStep();
  m.fingerprint = in.getFingerprint();
  m.weight = in.getWeight();
  m.elements = in.getElements();
  if (m.id.empty() || m.id.size() > 128)
    return invalid("a member's id must have 1 to 128 characters");
  if (m.endpoint.size() > 300)
    return invalid("a member's endpoint is too long");
  if (!std::isfinite(m.weight) || m.weight < 0)
    return invalid("a member's weight must be finite and not negative");
  return m;
}

void write_piece(wire::Piece::Builder out, const piece& p) {
  out.setPart(p.part);
  out.setOffset(p.offset);
  out.setCount(p.count);
  out.setEncoding(to_wire(p.enc));
  out.setData(bytes_of(p.data));
  auto scales = out.initScales(static_cast<unsigned>(p.scales.size()));
  for (unsigned i = 0; i < p.scales.size(); ++i)
    scales.set(i, p.scales[i]);
}

caf::expected<piece> read_piece(wire::Piece::Reader in) {
  piece p;
  p.part = in.getPart();
  p.offset = in.getOffset();
  p.count = in.getCount();
  auto enc = from_wire(in.getEncoding());
  if (!enc)
    return enc.error();
  p.enc = *enc;
  if (p.count == 0 || p.count > piece_elements)
    return invalid("a piece holds 1 to " + std::to_string(piece_elements) + " elements, not "
                   + std::to_string(p.count));
  auto data = in.getData();
  if (data.size() != data_bytes(p.enc, p.count))
    return invalid("a piece of " + std::to_string(p.count) + " " + to_string(p.enc)
                   + " elements must have " + std::to_string(data_bytes(p.enc, p.count))
                   + " bytes, not " + std::to_string(data.size()));
  p.data.assign(reinterpret_cast<const char*>(data.begin()), data.size());
  auto scales = in.getScales();
  auto expected_scales = p.enc == encoding::int8 ? blocks_of(p.count) : 0u;
  if (scales.size() != expected_scales)
    return invalid("a piece of " + std::to_string(p.count) + " " + to_string(p.enc)
                   + " elements must have " + std::to_string(expected_scales) + " scales");
  for (auto s : scales)
    p.scales.push_back(s);
  return p;
}

template <class List>
std::vector<uint32_t> read_indexes(List in) {
  std::vector<uint32_t> out;
  for (auto v : in)
    out.push_back(v);
  return out;
}

template <class Builder>
void write_indexes(Builder&& init, const std::vector<uint32_t>& v) {
  auto out = init(static_cast<unsigned>(v.size()));
  for (unsigned i = 0; i < v.size(); ++i)
    out.set(i, v[i]);
}

caf::expected<group> read_group(wire::Group::Reader in) {
  group g;
  g.id = in.getGroupId();
  for (auto m : in.getMembers()) {
    auto read = read_member(m);
    if (!read)
      return read.error();
    g.members.push_back(std::move(*read));
  }
  g.reducers = read_indexes(in.getReducers());
  for (auto b : in.getBounds())
    g.bounds.push_back(b);
  auto enc = from_wire(in.getEncoding());
  if (!enc)
    return enc.error();
  g.enc = *enc;
  if (g.members.empty() || g.reducers.empty() || g.bounds.size() != g.reducers.size() + 1)
    return invalid("a group needs members, reducers and one bound more than reducers");
  for (auto r : g.reducers)
    if (r >= g.members.size())
      return invalid("a group's reducer index is out of range");
  if (g.bounds.front() != 0 || !std::is_sorted(g.bounds.begin(), g.bounds.end()))
    return invalid("a group's part bounds must start at 0 and ascend");
  for (const auto& m : g.members)
    if (m.elements != g.bounds.back())
      return invalid("a group's members must all have the parts' elements");
  return g;
}

void write_group(wire::Group::Builder out, const group& g) {
  out.setGroupId(g.id);
  auto members = out.initMembers(static_cast<unsigned>(g.members.size()));
  for (unsigned i = 0; i < g.members.size(); ++i)
    write_member(members[i], g.members[i]);
  write_indexes([&](unsigned n) { return out.initReducers(n); }, g.reducers);
  auto bounds = out.initBounds(static_cast<unsigned>(g.bounds.size()));
  for (unsigned i = 0; i < g.bounds.size(); ++i)
    bounds.set(i, g.bounds[i]);
  out.setEncoding(to_wire(g.enc));
}

void write_header(wire::StateHeader::Builder out, const state_header& h) {
  out.setRun(h.run);
  out.setModel(h.model);
  out.setOuterStep(h.outer_step);
  out.setFingerprint(h.fingerprint);
  out.setElements(h.elements);
}

state_header read_header(wire::StateHeader::Reader in) {
  state_header h;
  h.run = in.getRun().cStr();
  h.model = in.getModel().cStr();
  h.outer_step = in.getOuterStep();
  h.fingerprint = in.getFingerprint();
  h.elements = in.getElements();
  return h;
}

/// IEEE 754 binary16 from a float, rounded to nearest even (by hand: clang-14, which builds the
/// fuzzers, has no half-precision type on x86).
uint16_t to_half(float f) {
  uint32_t x = 0;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t mantissa = x & 0x7fffffu;
  int32_t exponent = static_cast<int32_t>((x >> 23) & 0xffu);
  if (exponent == 0xff)  // infinity, NaN
    return static_cast<uint16_t>(sign | 0x7c00u | (mantissa != 0 ? 0x200u : 0u));
  int32_t e = exponent - 127 + 15;
  if (e >= 0x1f)
    return static_cast<uint16_t>(sign | 0x7c00u);  // too large: infinity
  if (e <= 0) {  // a subnormal half, or zero
    if (e < -10)
      return static_cast<uint16_t>(sign);
    mantissa |= 0x800000u;
    auto shift = static_cast<uint32_t>(14 - e);
    uint32_t half = mantissa >> shift;
    uint32_t rest = mantissa & ((1u << shift) - 1);
    uint32_t middle = 1u << (shift - 1);
    if (rest > middle || (rest == middle && (half & 1u) != 0))
      ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (mantissa >> 13);
  uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u) != 0))
    ++half;  // a carry into the exponent is right, up to infinity
  return static_cast<uint16_t>(sign | half);
}

/// The float a binary16 holds (exactly).
float from_half(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t x = 0;
  if (exponent == 0 && mantissa == 0) {
    x = sign;
  } else if (exponent == 0) {  // subnormal: normalize
    int32_t shifts = -1;
    do {
      ++shifts;
      mantissa <<= 1;
    } while ((mantissa & 0x400u) == 0);
    mantissa &= 0x3ffu;
    x = sign | (static_cast<uint32_t>(127 - 15 - shifts) << 23) | (mantissa << 13);
  } else if (exponent == 0x1f) {
    x = sign | 0x7f800000u | (mantissa << 13);
  } else {
    x = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f = 0;
  std::memcpy(&f, &x, 4);
  return f;
}

}  // namespace

const char* to_string(encoding enc) {
  switch (enc) {
    case encoding::float16:
      return "float16";
    case encoding::int8:
      return "int8";
    default:
      return "float32";
  }
}

payload encode_request(const request& r) {
  capnp::MallocMessageBuilder message;
  auto out = message.initRoot<wire::AverageRequest>();
  out.setRun(r.run);
  out.setGroupId(r.group_id);
  struct visitor {
    wire::AverageRequest::Builder out;
    void operator()(const member& m) {
      write_member(out.initJoin(), m);
    }
    void operator()(const contribute& c) {
      auto b = out.initContribute();
      b.setSender(c.sender);
      write_piece(b.initPiece(), c.data);
    }
    void operator()(const report& rep) {
      auto b = out.initReport();
      b.setPart(rep.part);
      write_indexes([&](unsigned n) { return b.initSenders(n); }, rep.senders);
    }
    void operator()(const outcome&) {
      out.setOutcome();
    }
    void operator()(const fetch& f) {
      auto b = out.initFetch();
      b.setPart(f.part);
      b.setOffset(f.offset);
      b.setCount(f.count);
    }
    void operator()(const state_fetch& f) {
      auto b = out.initState();
      b.setOffset(f.offset);
      b.setCount(f.count);
      b.setOuterStep(f.outer_step);
      b.setPinned(f.pinned);
    }
  };
  std::visit(visitor{out}, r.body);
  return to_payload(message);
}

caf::expected<request> decode_request(const payload& in, const wire_limits& limits) {
  return decode<wire::AverageRequest>(
    in, limits, [](wire::AverageRequest::Reader r) -> caf::expected<request> {
      request out;
      out.run = r.getRun().cStr();
      out.group_id = r.getGroupId();
      auto count_ok = [](uint32_t count) { return count > 0 && count <= piece_elements; };
      switch (r.which()) {
        case wire::AverageRequest::JOIN: {
          auto m = read_member(r.getJoin());
          if (!m)
            return m.error();
          out.body = std::move(*m);
          break;
        }
        case wire::AverageRequest::CONTRIBUTE: {
          auto p = read_piece(r.getContribute().getPiece());
          if (!p)
            return p.error();
          out.body = contribute{r.getContribute().getSender(), std::move(*p)};
          break;
        }
        case wire::AverageRequest::REPORT:
          out.body = report{r.getReport().getPart(), read_indexes(r.getReport().getSenders())};
          break;
        case wire::AverageRequest::OUTCOME:
          out.body = outcome{};
          break;
        case wire::AverageRequest::FETCH: {
          auto f = r.getFetch();
          if (!count_ok(f.getCount()))
            return invalid("a fetch asks for 1 to " + std::to_string(piece_elements) + " elements");
          out.body = fetch{f.getPart(), f.getOffset(), f.getCount()};
          break;
        }
        case wire::AverageRequest::STATE: {
          auto f = r.getState();
          if (!count_ok(f.getCount()))
            return invalid("a state fetch asks for 1 to " + std::to_string(piece_elements)
                           + " elements");
          out.body = state_fetch{f.getOffset(), f.getCount(), f.getPinned(), f.getOuterStep()};
          break;
        }
        default:
          return invalid("unknown averaging request");
      }
      return out;
    });
}

payload encode_reply(const caf::expected<reply>& r) {
  capnp::MallocMessageBuilder message;
  auto out = message.initRoot<wire::AverageReply>();
  if (!r) {
    write_error(out.initError(), r.error());
    return to_payload(message);
  }
  struct visitor {
    wire::AverageReply::Builder out;
    void operator()(const ack&) {
      out.setAck();
    }
    void operator()(const group& g) {
      write_group(out.initGroup(), g);
    }
    void operator()(const decision& d) {
      auto b = out.initDecision();
      write_indexes([&](unsigned n) { return b.initSurvivors(n); }, d.survivors);
      write_indexes([&](unsigned n) { return b.initOrphans(n); }, d.orphans);
    }
    void operator()(const piece& p) {
      write_piece(out.initPiece(), p);
    }
    void operator()(const state_reply& s) {
      auto b = out.initState();
      write_header(b.initHeader(), s.header);
      write_piece(b.initPiece(), s.values);
    }
  };
  std::visit(visitor{out}, *r);
  return to_payload(message);
}

caf::expected<reply> decode_reply(const payload& in, const wire_limits& limits) {
  return decode<wire::AverageReply>(
    in, limits, [](wire::AverageReply::Reader r) -> caf::expected<reply> {
      switch (r.which()) {
        case wire::AverageReply::ACK:
          return reply{ack{}};
        case wire::AverageReply::GROUP: {
          auto g = read_group(r.getGroup());
          if (!g)
            return g.error();
          return reply{std::move(*g)};
        }
        case wire::AverageReply::DECISION:
          return reply{decision{read_indexes(r.getDecision().getSurvivors()),
                                read_indexes(r.getDecision().getOrphans())}};
        case wire::AverageReply::PIECE: {
          auto p = read_piece(r.getPiece());
          if (!p)
            return p.error();
          return reply{std::move(*p)};
        }
        case wire::AverageReply::STATE: {
          auto p = read_piece(r.getState().getPiece());
          if (!p)
            return p.error();
          return reply{state_reply{read_header(r.getState().getHeader()), std::move(*p)}};
        }
        case wire::AverageReply::ERROR:
          return read_error(r.getError());
      }
      return invalid("unknown averaging reply");
    });
}

piece encode_piece(const float* values, uint32_t count, encoding enc, uint32_t part,
                   uint64_t offset) {
  piece p;
  p.part = part;
  p.offset = offset;
  p.count = count;
  p.enc = enc;
  p.data.resize(data_bytes(enc, count));
  switch (enc) {
    case encoding::float32:
      std::memcpy(p.data.data(), values, p.data.size());
      break;
    case encoding::float16: {
      for (uint32_t i = 0; i < count; ++i) {
        auto half = to_half(values[i]);
        std::memcpy(p.data.data() + 2ull * i, &half, 2);
      }
      break;
    }
    case encoding::int8: {
      auto* out = reinterpret_cast<int8_t*>(p.data.data());
      for (uint32_t begin = 0; begin < count; begin += block_elements) {
        auto end = std::min(count, begin + block_elements);
        float peak = 0;
        for (auto i = begin; i < end; ++i)
          peak = std::max(peak, std::fabs(values[i]));
        float scale = peak / 127.0f;
        p.scales.push_back(scale);
        for (auto i = begin; i < end; ++i)
          out[i] = scale > 0 ? static_cast<int8_t>(std::lround(values[i] / scale)) : 0;
      }
      break;
    }
  }
  return p;
}

caf::expected<std::vector<float>> decode_piece(const piece& p) {
  std::vector<float> out(p.count);
  switch (p.enc) {
    case encoding::float32:
      std::memcpy(out.data(), p.data.data(), 4ull * p.count);
      break;
    case encoding::float16: {
      for (uint32_t i = 0; i < p.count; ++i) {
        uint16_t half = 0;
        std::memcpy(&half, p.data.data() + 2ull * i, 2);
        out[i] = from_half(half);
      }
      break;
    }
    case encoding::int8: {
      auto* in = reinterpret_cast<const int8_t*>(p.data.data());
      for (uint32_t i = 0; i < p.count; ++i)
        out[i] = static_cast<float>(in[i]) * p.scales[i / block_elements];
      break;
    }
  }
  for (auto v : out)
    if (!std::isfinite(v))
      return make_error(errc::non_finite, "a " + std::string{to_string(p.enc)}
                                            + " piece holds a NaN or an infinity");
  return out;
}

}  // namespace dmoe::avg
