// The built-in expert types.
//
// ffn: LayerNorm(h) -> Linear(h, 4h) -> GELU -> Linear(4h, h); input and output [batch, h].
// (Registered with inner width 4h; the trainer's largeffn baseline builds a wider one.)
// It keeps activations (expert_module.hpp): forward_saving keeps the input, the normalized
// input, LayerNorm's mean and 1/std, and the inner layer before and after GELU (10h floats per
// sample at inner width 4h); backward_saved is the chain rule with LibTorch's own LayerNorm and
// GELU backward kernels, weight gradients added into grad() by one matrix product each.
//
// transformer: one pre-LayerNorm transformer encoder block over [batch, tokens, h] (tokens is
// free, 1 is fine): x + SelfAttention(LN(x)), then x + FFN(LN(x)) with the ffn above minus its
// own LayerNorm. Attention has h / 64 heads when 64 divides h, else one head; no mask (every
// token sees every token of its own sample, never another sample's).
//
// causal-transformer: the same block with a causal mask (a token sees itself and the tokens
// before it): a whole decoder block of a language model as one expert, the paper's layout
// (trainer.task = language-model with moe.routing = sequence).
#pragma once

#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "runtime/experts/expert_module.hpp"

namespace dmoe {

/// An ffn expert's inner width over its hidden size.
constexpr int64_t ffn_expansion = 4;

class ffn_expert : public expert_module {
public:
  explicit ffn_expert(int64_t hidden);
  ffn_expert(int64_t hidden, int64_t inner);
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& inputs) override;
  std::vector<tensor_schema> input_schema() const override;
  std::vector<tensor_schema> output_schema() const override;
  bool keeps_activations() const override {
    return true;
  }
  std::vector<torch::Tensor> forward_saving(const std::vector<torch::Tensor>& inputs,
                                            std::vector<torch::Tensor>& saved) override;
  std::vector<torch::Tensor> backward_saved(const std::vector<torch::Tensor>& saved,
                                            const std::vector<torch::Tensor>& grad_outputs) override;
  torch::Tensor forward_one(const torch::Tensor& x);

private:
  int64_t hidden_;
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear up_{nullptr};
  torch::nn::Linear down_{nullptr};
};

class transformer_expert : public expert_module {
public:
  explicit transformer_expert(int64_t hidden, bool causal = false);
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& inputs) override;
  std::vector<tensor_schema> input_schema() const override;
  std::vector<tensor_schema> output_schema() const override;
  torch::Tensor forward_one(const torch::Tensor& x);

private:
  torch::Tensor attention(const torch::Tensor& x);

  int64_t hidden_;
  int64_t heads_;
  bool causal_;
  torch::nn::LayerNorm attention_norm_{nullptr};
  torch::nn::Linear qkv_{nullptr};
  torch::nn::Linear attention_out_{nullptr};
  torch::nn::LayerNorm ffn_norm_{nullptr};
  torch::nn::Linear up_{nullptr};
  torch::nn::Linear down_{nullptr};
};

}  // namespace dmoe
