#include "runtime/options.hpp"

namespace dmoe {

bool is_compression_name(const std::string& name) {
  return name == "none" || name == "float16";
}

wire_limits limit_options::wire() const {
  wire_limits out;
  out.max_message_bytes = max_message_bytes;
  out.max_tensor_bytes = max_tensor_bytes;
  out.max_tensor_rank = max_tensor_rank;
  out.max_tensors_per_call = max_tensors_per_call;
  out.nans = nan_policy == "allow" ? nan_policy::allow : nan_policy::reject;
  out.part_bytes = part_bytes;
  return out;
}

}  // namespace dmoe
