#include "runtime/experts/builtin_experts.hpp"

#include <cmath>
#include <limits>

namespace dmoe {

namespace {

constexpr int64_t attention_head_size = 64;

torch::nn::LayerNorm make_norm(int64_t hidden) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({hidden}));
}

// parameter.grad() += g (the first gradient since zero_grad may find no grad tensor yet)
void add_grad(torch::Tensor& parameter, const torch::Tensor& g) {
  auto& grad = parameter.mutable_grad();
  if (grad.defined())
    grad.add_(g);
  else
    grad = g;
}

// parameter.grad() += a * b, one matrix product written into the gradient
void add_grad_product(torch::Tensor& parameter, const torch::Tensor& a, const torch::Tensor& b) {
  auto& grad = parameter.mutable_grad();
  if (grad.defined())
    grad.addmm_(a, b);
  else
    grad = torch::mm(a, b);
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

namespace {
// What forward_saving keeps, in order.
enum ffn_saved : size_t { saved_input, saved_normalized, saved_mean, saved_rstd, saved_inner,
                         saved_activated, saved_count };
}  // namespace

std::vector<torch::Tensor> ffn_expert::forward_saving(const std::vector<torch::Tensor>& inputs,
                                                      std::vector<torch::Tensor>& saved) {
  torch::NoGradGuard no_grad;
  const auto& x = inputs.at(0);
  auto [normalized, mean, rstd] = torch::native_layer_norm(x, {hidden_}, norm_->weight, norm_->bias,
                                                           norm_->options.eps());
  auto inner = torch::addmm(up_->bias, normalized, up_->weight.t());
  auto activated = torch::gelu(inner);
  auto y = torch::addmm(down_->bias, activated, down_->weight.t());
  saved = {x, normalized, mean, rstd, inner, activated};
  return {y};
}

std::vector<torch::Tensor> ffn_expert::backward_saved(const std::vector<torch::Tensor>& saved,
                                                      const std::vector<torch::Tensor>& grad_outputs) {
  TORCH_CHECK(saved.size() == saved_count, "an ffn expert keeps ", saved_count,
              " activations, got ", saved.size());
  torch::NoGradGuard no_grad;
  const auto& g = grad_outputs.at(0);
  add_grad_product(down_->weight, g.t(), saved[saved_activated]);
  add_grad(down_->bias, g.sum(0));
  auto g_inner = torch::gelu_backward(g.mm(down_->weight), saved[saved_inner]);
  add_grad_product(up_->weight, g_inner.t(), saved[saved_normalized]);
  add_grad(up_->bias, g_inner.sum(0));
  auto [g_x, g_norm_weight, g_norm_bias] = torch::native_layer_norm_backward(
    g_inner.mm(up_->weight), saved[saved_input], {hidden_}, saved[saved_mean], saved[saved_rstd],
    norm_->weight, norm_->bias, {true, true, true});
  add_grad(norm_->weight, g_norm_weight);
  add_grad(norm_->bias, g_norm_bias);
  return {g_x};
}

std::vector<tensor_schema> ffn_expert::input_schema() const {
  return {{torch::kFloat32, {-1, hidden_}}};
}

std::vector<tensor_schema> ffn_expert::output_schema() const {
  return input_schema();
}

transformer_expert::transformer_expert(int64_t hidden, bool causal)
  : hidden_(hidden),
    heads_(hidden % attention_head_size == 0 ? hidden / attention_head_size : 1),
    causal_(causal) {
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
  if (causal_) {
    auto future = torch::ones({tokens, tokens}, torch::dtype(torch::kBool)).triu(1);
    scores = scores.masked_fill(future, -std::numeric_limits<float>::infinity());
  }
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
