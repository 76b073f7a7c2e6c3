#include "runtime/expert_codec.hpp"

#include <capnp/message.h>

#include "messages/expert_id.hpp"
#include "messages/schema/expert.capnp.h"
#include "runtime/tensor_codec.hpp"

namespace dmoe {

namespace {

using owner_ptr = std::shared_ptr<shared_message>;

caf::expected<std::string> read_expert_id(capnp::Text::Reader in) {
  std::string id(in.cStr(), in.size());
  if (!is_valid_expert_id(id))
    return make_error(errc::invalid_argument,
                      "invalid expert id '" + id.substr(0, 64)
                        + "' (expected name.int[.int...], e.g. ffn.3.17)");
  return id;
}

void write_schemas(capnp::List<wire::TensorSchema>::Builder out,
                   const std::vector<tensor_schema>& in) {
  for (unsigned i = 0; i < in.size(); ++i) {
    auto dtype = to_wire_dtype(in[i].dtype);
    if (!dtype)
      throw std::invalid_argument(describe(dtype.error()));
    out[i].setDtype(*dtype);
    auto shape = out[i].initShape(static_cast<unsigned>(in[i].shape.size()));
    for (unsigned d = 0; d < in[i].shape.size(); ++d)
      shape.set(d, in[i].shape[d]);
  }
}

caf::expected<std::vector<tensor_schema>>
read_schemas(capnp::List<wire::TensorSchema>::Reader in, const wire_limits& limits) {
  if (in.size() > limits.max_tensors_per_call)
    return make_error(errc::limit_exceeded, "too many tensor schemas");
  std::vector<tensor_schema> out;
  for (auto s : in) {
    auto dtype = from_wire_dtype(s.getDtype());
    if (!dtype)
      return dtype.error();
    auto shape = s.getShape();
    if (shape.size() > limits.max_tensor_rank)
      return make_error(errc::limit_exceeded, "tensor schema rank over the limit");
    tensor_schema schema{*dtype, {}};
    for (auto d : shape) {
      if (d < -1)
        return make_error(errc::invalid_argument, "tensor schema dimension below -1");
      schema.shape.push_back(d);
    }
    out.push_back(std::move(schema));
  }
  return out;
}

}  // namespace

payload encode(const expert_call& call, wire::Compression compression) {
  capnp::MallocMessageBuilder message;
  tensor_keepalive keep;
  auto out = message.initRoot<wire::ExpertRequest>();
  std::visit(
    [&](const auto& x) {
      using T = std::decay_t<decltype(x)>;
      if constexpr (std::is_same_v<T, forward_call>) {
        auto fwd = out.initForward();
        fwd.setExpertId(x.expert_id);
        write_tensors(fwd.initInputs(x.inputs.size()), x.inputs, compression, keep);
      } else if constexpr (std::is_same_v<T, backward_call>) {
        auto bwd = out.initBackward();
        bwd.setExpertId(x.expert_id);
        write_tensors(bwd.initInputs(x.inputs.size()), x.inputs, compression, keep);
        write_tensors(bwd.initGradOutputs(x.grad_outputs.size()), x.grad_outputs, compression,
                      keep);
      } else {
        out.initInfo().setExpertId(x.expert_id);
      }
    },
    call);
  return to_payload(message);
}

payload encode(const expert_reply& reply, wire::Compression compression) {
  capnp::MallocMessageBuilder message;
  tensor_keepalive keep;
  auto out = message.initRoot<wire::ExpertResponse>();
  std::visit(
    [&](const auto& x) {
      using T = std::decay_t<decltype(x)>;
      if constexpr (std::is_same_v<T, forward_result>) {
        write_tensors(out.initForward(x.outputs.size()), x.outputs, compression, keep);
      } else if constexpr (std::is_same_v<T, backward_result>) {
        write_tensors(out.initBackward(x.grad_inputs.size()), x.grad_inputs, compression, keep);
      } else if constexpr (std::is_same_v<T, expert_info>) {
        auto info = out.initInfo();
        info.setExpertId(x.expert_id);
        info.setExpertType(x.expert_type);
        write_schemas(info.initInputs(x.inputs.size()), x.inputs);
        write_schemas(info.initOutputs(x.outputs.size()), x.outputs);
        info.setMaxBatchSize(x.max_batch_size);
      } else {
        write_error(out.initError(), x);
      }
    },
    reply);
  return to_payload(message);
}

caf::expected<expert_call> decode_expert_call(payload&& in, const wire_limits& limits) {
  return decode_owned<wire::ExpertRequest>(
    std::move(in), limits,
    [&](wire::ExpertRequest::Reader r, owner_ptr owner) -> caf::expected<expert_call> {
      switch (r.which()) {
        case wire::ExpertRequest::FORWARD: {
          auto fwd = r.getForward();
          auto id = read_expert_id(fwd.getExpertId());
          if (!id)
            return id.error();
          auto inputs = read_tensors(fwd.getInputs(), limits, owner);
          if (!inputs)
            return inputs.error();
          return forward_call{std::move(*id), std::move(*inputs)};
        }
        case wire::ExpertRequest::BACKWARD: {
          auto bwd = r.getBackward();
          auto id = read_expert_id(bwd.getExpertId());
          if (!id)
            return id.error();
          auto inputs = read_tensors(bwd.getInputs(), limits, owner);
          if (!inputs)
            return inputs.error();
          auto grads = read_tensors(bwd.getGradOutputs(), limits, owner);
          if (!grads)
            return grads.error();
          return backward_call{std::move(*id), std::move(*inputs), std::move(*grads)};
        }
        case wire::ExpertRequest::INFO: {
          auto id = read_expert_id(r.getInfo().getExpertId());
          if (!id)
            return id.error();
          return info_call{std::move(*id)};
        }
        default:
          return make_error(errc::malformed, "unknown expert request kind");
      }
    });
}

caf::expected<expert_reply> decode_expert_reply(payload&& in, const wire_limits& limits) {
  return decode_owned<wire::ExpertResponse>(
    std::move(in), limits,
    [&](wire::ExpertResponse::Reader r, owner_ptr owner) -> caf::expected<expert_reply> {
      switch (r.which()) {
        case wire::ExpertResponse::FORWARD: {
          auto outputs = read_tensors(r.getForward(), limits, owner);
          if (!outputs)
            return outputs.error();
          return forward_result{std::move(*outputs)};
        }
        case wire::ExpertResponse::BACKWARD: {
          auto grads = read_tensors(r.getBackward(), limits, owner);
          if (!grads)
            return grads.error();
          return backward_result{std::move(*grads)};
        }
        case wire::ExpertResponse::INFO: {
          auto info = r.getInfo();
          auto id = read_expert_id(info.getExpertId());
          if (!id)
            return id.error();
          auto inputs = read_schemas(info.getInputs(), limits);
          if (!inputs)
            return inputs.error();
          auto outputs = read_schemas(info.getOutputs(), limits);
          if (!outputs)
            return outputs.error();
          return expert_info{std::move(*id), std::string(info.getExpertType().cStr()),
                             std::move(*inputs), std::move(*outputs), info.getMaxBatchSize()};
        }
        case wire::ExpertResponse::ERROR:
          return expert_reply{read_error(r.getError())};
        default:
          return make_error(errc::malformed, "unknown expert response kind");
      }
    });
}

}  // namespace dmoe
