#include "runtime/options.hpp"

namespace dmoe {

wire_limits limit_options::wire() const {
  wire_limits out;
  out.max_message_bytes = max_message_bytes;
  out.max_tensor_bytes = max_tensor_bytes;
  out.max_tensor_rank = max_tensor_rank;
  out.max_tensors_per_call = max_tensors_per_call;
  out.nans = nans;
  out.part_bytes = part_bytes;
  return out;
}

}  // namespace dmoe
