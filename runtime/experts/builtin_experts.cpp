#include "runtime/experts/builtin_experts.hpp"

#include <cmath>

namespace dmoe {

namespace {

constexpr int64_t attention_head_size = 64;

torch::nn::LayerNorm make_norm(int64_t hidden) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({hidden}));
}

}  // namespace

ffn_expert::ffn_expert(int64_t hidden) : ffn_expert(hidden, ffn_expansion * hidden) {
}

ffn_expert::ffn_expert(int64_t hidden, int64_t inner) : hidden_(hidden) {
  norm_ = register_module("norm", make_norm(hidden));
  up_ = register_module("up", torch::nn::Linear(hidden, inner));
  down_ = register_module("down", torch::nn::Linear(inner, hidden));
}

torch::Tensor ffn_expert::forward_one(const torch::Tensor& x) {
  return down_->forward(torch::gelu(up_->forward(norm_->forward(x))));
}

std::vector<torch::Tensor> ffn_expert::forward(const std::vector<torch::Tensor>& inputs) {
  return {forward_one(inputs.at(0))};
}

std::vector<tensor_schema> ffn_expert::input_schema() const {
  return {{torch::kFloat32, {-1, hidden_}}};
}

std::vector<tensor_schema> ffn_expert::output_schema() const {
  return input_schema();
}

transformer_expert::transformer_expert(int64_t hidden)
  : hidden_(hidden),
    heads_(hidden % attention_head_size == 0 ? hidden / attention_head_size : 1) {
  attention_norm_ = register_module("attention_norm", make_norm(hidden));
  qkv_ = register_module("qkv", torch::nn::Linear(hidden, 3 * hidden));
  attention_out_ = register_module("attention_out", torch::nn::Linear(hidden, hidden));
  ffn_norm_ = register_module("ffn_norm", make_norm(hidden));
  up_ = register_module("up", torch::nn::Linear(hidden, ffn_expansion * hidden));
  down_ = register_module("down", torch::nn::Linear(ffn_expansion * hidden, hidden));
}

torch::Tensor transformer_expert::attention(const torch::Tensor& x) {
  auto batch = x.size(0);
  auto tokens = x.size(1);
  auto head_size = hidden_ / heads_;
  // [B, T, 3h] -> three [B, heads, T, head_size]
  auto qkv = qkv_->forward(x).view({batch, tokens, 3, heads_, head_size}).permute({2, 0, 3, 1, 4});
  auto q = qkv[0];
  auto k = qkv[1];
  auto v = qkv[2];
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_size));
  auto context = torch::matmul(torch::softmax(scores, -1), v);
  return attention_out_->forward(context.transpose(1, 2).reshape({batch, tokens, hidden_}));
}

torch::Tensor transformer_expert::forward_one(const torch::Tensor& x) {
  auto h = x + attention(attention_norm_->forward(x));
  return h + down_->forward(torch::gelu(up_->forward(ffn_norm_->forward(h))));
}

std::vector<torch::Tensor> transformer_expert::forward(const std::vector<torch::Tensor>& inputs) {
  return {forward_one(inputs.at(0))};
}

std::vector<tensor_schema> transformer_expert::input_schema() const {
  return {{torch::kFloat32, {-1, -1, hidden_}}};
}

std::vector<tensor_schema> transformer_expert::output_schema() const {
  return input_schema();
}

}  // namespace dmoe
