// The interface every expert type implements, and the registry that builds experts by type name.
//
// An expert is a torch::nn::Module with a list-of-tensors forward and a declared schema. The
// server validates each request against the schema before it reaches the module, and merges
// requests along the first (batch) dimension. Schema conventions (tensor_schema from
// runtime/expert_codec.hpp):
//   - dimension 0 of every input and output is the batch (-1);
//   - any other -1 is a free dimension (e.g. a sequence length); a free dimension of an output
//     equals the same dimension of the first input (true for the built-in types), which is how
//     gradients sent to backward are checked;
//   - forward must be row-wise in the batch: sample i's outputs depend only on sample i's inputs
//     (so merging callers into one batch does not change anyone's answer).
//
// A type may also compute its own backward from activations its forward kept
// (keeps_activations() true; the built-in ffn does): the server then keeps a forward call's
// activations until the backward of the same inputs comes, instead of recomputing the forward
// (see expert_backend.hpp). Every other type is recomputed with autograd.
//
// Adding a type from C++:
//   dmoe::register_expert_type("my_mlp", [](int64_t hidden) {
//     return std::make_shared<my_mlp>(hidden);   // my_mlp : dmoe::expert_module
//   });
//   then start a server with server_options::expert_type = "my_mlp".
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <torch/nn/module.h>

#include "runtime/expert_codec.hpp"

namespace dmoe {

class expert_module : public torch::nn::Module {
public:
  /// Inputs match input_schema() (checked by the caller); outputs match output_schema().
  virtual std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& inputs) = 0;
  virtual std::vector<tensor_schema> input_schema() const = 0;
  virtual std::vector<tensor_schema> output_schema() const = 0;

  /// True when forward_saving and backward_saved are implemented.
  virtual bool keeps_activations() const {
    return false;
  }
  /// Forward without autograd; `saved` receives what backward_saved needs, every tensor with
  /// the batch as dimension 0 (so rows of several calls can be cut out and joined again).
  virtual std::vector<torch::Tensor> forward_saving(const std::vector<torch::Tensor>& inputs,
                                                    std::vector<torch::Tensor>& saved);
  /// Without autograd: adds the parameter gradients of the rows in `saved` to every
  /// parameter's grad() and returns the gradients w.r.t. the inputs. `saved` comes from
  /// forward_saving (possibly at older weights: the current ones are used for the chain rule).
  virtual std::vector<torch::Tensor> backward_saved(const std::vector<torch::Tensor>& saved,
                                                    const std::vector<torch::Tensor>& grad_outputs);
};

/// Builds a freshly initialized expert of hidden size `hidden`; LibTorch's global generator is
/// seeded by the caller just before, so initialization must draw only from it.
using expert_factory = std::function<std::shared_ptr<expert_module>(int64_t hidden)>;

/// Adds (or replaces) a type. Thread-safe; the built-in types "ffn", "transformer" and
/// "causal-transformer" are always present.
void register_expert_type(const std::string& name, expert_factory factory);

/// Names of every registered type, sorted.
std::vector<std::string> expert_types();

/// A new expert of type `name`, its parameters initialized from `seed` (see expert_seed).
/// Unknown names and factories that throw or return nothing give an error.
caf::expected<std::shared_ptr<expert_module>> make_expert(const std::string& name, int64_t hidden,
                                                          uint64_t seed);

}  // namespace dmoe
