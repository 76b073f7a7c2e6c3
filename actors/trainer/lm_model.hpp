// The trainers' language model: a decoder-only Transformer whose feed-forward sublayers are
// DMoE layers.
//   tokens [B, T] -> token + position embeddings -> L blocks -> LayerNorm -> logits [B, T, V]
//   block: x = x + CausalSelfAttention(LN(x)); x = x + FFN(LN(x))
// The output projection is the token embedding (tied). FFN is, by trainer.model:
//   dmoe:     a DMoE layer routing each token on its own (the rows [B*T, H]) to its k_best
//             ffn experts of grid PREFIX-i (layer 0: PREFIX), Switch/GShard style; with
//             moe.routing = sequence the whole block is a DMoE layer instead, each sequence
//             [T, H] going to its k_best causal-transformer experts (the paper's layout; the
//             gate sees the sequence's first position, remote_moe.hpp);
//   dense:    one local ffn as wide as the k_best experts a token uses (the same active
//             compute per token);
//   largeffn: one local ffn as wide as all the grid's experts (the same parameters).
// With dmoe every forward also leaves a load-balancing loss (balance_loss()): per grid
// dimension d with G_d coordinates, G_d * sum_c f_c * p_c, where f_c is the share of the
// tokens' answered experts with coordinate c and p_c the mean softmax gate probability of c;
// it is 1 when the tokens spread evenly and grows as they crowd on few experts.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <caf/actor_system.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "actors/moe/remote_moe.hpp"
#include "actors/trainer/model.hpp"
#include "runtime/experts/builtin_experts.hpp"
#include "runtime/options.hpp"

namespace dmoe {

struct lm_shape {
  int64_t vocab = 0;
  int64_t context = 128;  // tokens per sequence
  int64_t hidden = 256;   // model and expert width
  int64_t layers = 4;
  int64_t heads = 4;
};

class CausalSelfAttentionImpl : public torch::nn::Module {
public:
  CausalSelfAttentionImpl(int64_t hidden, int64_t heads);
  torch::Tensor forward(const torch::Tensor& x);  // [B, T, H] -> [B, T, H]

private:
  int64_t heads_;
  torch::nn::Linear qkv_{nullptr};
  torch::nn::Linear out_{nullptr};
};
TORCH_MODULE(CausalSelfAttention);

class LanguageModelImpl : public torch::nn::Module {
public:
  LanguageModelImpl(caf::actor_system& system, moe::router_actor router, lm_shape shape,
                    model_kind kind, const moe_options& moe);

  torch::Tensor forward(const torch::Tensor& tokens);

  /// The mean of the DMoE layers' balance losses of the last forward (0 without DMoE layers).
  torch::Tensor balance_loss() const {
    return balance_;
  }

  /// Per DMoE layer, the tokens of the last forward each expert answered, [cells] (the grid's
  /// cells in row-major order).
  const std::vector<torch::Tensor>& expert_loads() const {
    return loads_;
  }

  const lm_shape& shape() const {
    return shape_;
  }

private:
  /// Adds a DMoE layer's last forward to the balance loss and the expert loads.
  void note_moe_layer(const RemoteMixtureOfExperts& layer, int64_t tokens_per_row);

  struct block {  // attention empty: a remote block (moe.routing = sequence)
    torch::nn::LayerNorm attention_norm{nullptr};
    CausalSelfAttention attention{nullptr};
    torch::nn::LayerNorm ffn_norm{nullptr};
    RemoteMixtureOfExperts moe{nullptr};
    std::shared_ptr<ffn_expert> dense;
  };

  lm_shape shape_;
  moe_options moe_;
  torch::nn::Embedding tokens_{nullptr};
  torch::nn::Embedding positions_{nullptr};
  std::vector<block> blocks_;
  torch::nn::LayerNorm final_norm_{nullptr};
  torch::Tensor balance_;
  std::vector<torch::Tensor> loads_;
};
TORCH_MODULE(LanguageModel);

/// The load-balancing loss of a DMoE layer's last forward (above) from its gate logits.
torch::Tensor balance_loss(const RemoteMixtureOfExperts& layer);

}  // namespace dmoe
