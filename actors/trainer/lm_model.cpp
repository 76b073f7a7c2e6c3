#include "actors/trainer/lm_model.hpp"

#include <cmath>
#include <limits>

#include <torch/nn/functional/activation.h>
#include <torch/nn/init.h>

namespace dmoe {

CausalSelfAttentionImpl::CausalSelfAttentionImpl(int64_t hidden, int64_t heads) : heads_(heads) {
  TORCH_CHECK(heads > 0 && hidden % heads == 0, "the model width must be a multiple of the heads");
  qkv_ = register_module("qkv", torch::nn::Linear(hidden, 3 * hidden));
  out_ = register_module("out", torch::nn::Linear(hidden, hidden));
}

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x) {
  auto b = x.size(0), t = x.size(1), h = x.size(2);
  auto per_head = h / heads_;
  auto qkv = qkv_->forward(x).view({b, t, 3, heads_, per_head}).permute({2, 0, 3, 1, 4});
  auto q = qkv[0], k = qkv[1], v = qkv[2];  // [B, heads, T, per_head]
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(per_head));
  auto future = torch::ones({t, t}, torch::dtype(torch::kBool).device(x.device())).triu(1);
  scores = scores.masked_fill(future, -std::numeric_limits<float>::infinity());
  auto mixed = torch::matmul(torch::softmax(scores, -1), v);  // [B, heads, T, per_head]
  return out_->forward(mixed.transpose(1, 2).reshape({b, t, h}));
}

LanguageModelImpl::LanguageModelImpl(caf::actor_system& system, moe::router_actor router,
                                     lm_shape shape, model_kind kind, const moe_options& moe)
  : shape_(shape), moe_(moe) {
  TORCH_CHECK(shape.vocab > 0 && shape.context > 0 && shape.layers > 0, "a bad model shape");
  tokens_ = register_module("tokens", torch::nn::Embedding(shape.vocab, shape.hidden));
  positions_ = register_module("positions", torch::nn::Embedding(shape.context, shape.hidden));
  // GPT-2's initialization: small embeddings keep the first logits near uniform.
  torch::nn::init::normal_(tokens_->weight, 0.0, 0.02);
  torch::nn::init::normal_(positions_->weight, 0.0, 0.02);
  auto norm = [&](int64_t h) { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({h})); };
  for (int64_t i = 0; i < shape.layers; ++i) {
    auto name = "block" + std::to_string(i);
    block b;
    if (kind == model_kind::dmoe && moe.routing == routing_kind::sequence) {
      // The whole block is remote: each sequence goes to its k_best causal-transformer experts.
      auto layer = moe;
      layer.expert_prefix = layer_prefix(moe.expert_prefix, static_cast<size_t>(i));
      b.moe = register_module(name + "_moe", RemoteMixtureOfExperts(system, router, shape.hidden,
                                                                     shape.hidden, layer));
      blocks_.push_back(std::move(b));
      continue;
    }
    b.attention_norm = register_module(name + "_attention_norm", norm(shape.hidden));
    b.attention = register_module(name + "_attention",
                                  CausalSelfAttention(shape.hidden, shape.heads));
    b.ffn_norm = register_module(name + "_ffn_norm", norm(shape.hidden));
    if (kind == model_kind::dmoe) {
      auto layer = moe;
      layer.expert_prefix = layer_prefix(moe.expert_prefix, static_cast<size_t>(i));
      b.moe = register_module(name + "_moe", RemoteMixtureOfExperts(system, router, shape.hidden,
                                                                     shape.hidden, layer));
    } else {
      b.dense = register_module(name + "_ffn", std::make_shared<ffn_expert>(
                                                 shape.hidden, dense_ffn_width(kind, shape.hidden, moe)));
    }
    blocks_.push_back(std::move(b));
  }
  final_norm_ = register_module("final_norm", norm(shape.hidden));
}

torch::Tensor LanguageModelImpl::forward(const torch::Tensor& tokens) {
  TORCH_CHECK(tokens.dim() == 2 && tokens.size(1) <= shape_.context,
              "the language model takes [batch, at most ", shape_.context, "] tokens");
  auto b = tokens.size(0), t = tokens.size(1);
  auto positions = torch::arange(t, tokens.options().dtype(torch::kInt64));
  auto x = tokens_->forward(tokens) + positions_->forward(positions).unsqueeze(0);
  balance_ = torch::zeros({}, x.options());
  loads_.clear();
  for (auto& blk : blocks_) {
    if (!blk.attention) {  // a remote block (moe.routing = sequence): its own residuals
      x = blk.moe->forward(x);
      note_moe_layer(blk.moe, t);
      continue;
    }
    x = x + blk.attention->forward(blk.attention_norm->forward(x));
    auto h = blk.ffn_norm->forward(x).reshape({b * t, shape_.hidden});  // one row per token
    torch::Tensor y;
    if (blk.moe) {
      y = blk.moe->forward(h);
      note_moe_layer(blk.moe, 1);
    } else {
      y = blk.dense->forward_one(h);
    }
    x = x + y.reshape({b, t, shape_.hidden});
  }
  if (!loads_.empty())  // one load per DMoE layer
    balance_ = balance_ / static_cast<double>(loads_.size());
  auto out = final_norm_->forward(x);
  return torch::matmul(out, tokens_->weight.t());  // tied with the token embedding
}

void LanguageModelImpl::note_moe_layer(const RemoteMixtureOfExperts& layer, int64_t tokens_per_row) {
  balance_ = balance_ + dmoe::balance_loss(layer);
  // Tokens per expert: the answered slots' cells, row-major over the grid.
  auto coords = layer->last_coords();
  auto mask = layer->last_mask();
  auto cell = torch::zeros(mask.sizes(), coords.options());
  for (size_t d = 0; d < moe_.grid.size(); ++d)
    cell = cell * moe_.grid[d] + coords.select(2, static_cast<int64_t>(d)).clamp_min(0);
  int64_t cells = 1;
  for (auto g : moe_.grid)
    cells *= g;
  loads_.push_back(torch::bincount(cell.masked_select(mask), {}, cells) * tokens_per_row);
}

torch::Tensor balance_loss(const RemoteMixtureOfExperts& layer) {
  const auto& logits = layer->last_gate_logits();
  auto coords = layer->last_coords();
  auto mask = layer->last_mask();
  auto answered = mask.sum().clamp_min(1).to(torch::kFloat32);
  torch::Tensor loss;
  for (size_t d = 0; d < logits.size(); ++d) {
    auto g = logits[d].size(1);
    auto mean_probability = torch::softmax(logits[d], 1).mean(0);  // [G_d], differentiable
    auto chosen = coords.select(2, static_cast<int64_t>(d)).masked_select(mask);
    auto share = torch::bincount(chosen, {}, g).to(torch::kFloat32) / answered;  // [G_d]
    auto term = static_cast<double>(g) * (share * mean_probability).sum();
    loss = loss.defined() ? loss + term : term;
  }
  return loss.defined() ? loss / static_cast<double>(logits.size()) : torch::zeros({});
}

}  // namespace dmoe
