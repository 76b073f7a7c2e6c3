// `dmoe-bench grouped`: per-expert against grouped expert compute at few rows per expert
// (grouped_compute.hpp says what each figure is).
//
//   dmoe-bench grouped [--experts 16] [--hidden 64] [--rows 1,2,4,8,32] [--torch-threads 1]
#include "apps/bench/grouped_compute.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <torch/torch.h>

#include "apps/bench/bench.hpp"
#include "apps/bench/blas_info.hpp"
#include "runtime/experts/compute_pool.hpp"
#include "runtime/experts/builtin_experts.hpp"
#include "runtime/experts/expert_module.hpp"

namespace dmoe::bench {

namespace {

using bench_clock = std::chrono::steady_clock;
constexpr int repeats = 7;
constexpr auto repeat_time = std::chrono::milliseconds(300);

// Seconds per call of `round`: the median of `repeats` timings of as many calls as fit in
// repeat_time, after a warm-up.
double seconds_per_round(const std::function<void()>& round) {
  for (int i = 0; i < 3; ++i)
    round();
  std::vector<double> per_round;
  for (int r = 0; r < repeats; ++r) {
    auto start = bench_clock::now();
    int calls = 0;
    while (bench_clock::now() - start < repeat_time) {
      round();
      ++calls;
    }
    per_round.push_back(std::chrono::duration<double>(bench_clock::now() - start).count() / calls);
  }
  return median(per_round);
}

// The parameters of an ffn expert by name (norm, up, down; builtin_experts.hpp).
struct ffn_weights {
  torch::Tensor norm_weight, norm_bias, up_weight, up_bias, down_weight, down_bias;
};

ffn_weights weights_of(expert_module& m) {
  auto p = m.named_parameters();
  return {p["norm.weight"], p["norm.bias"], p["up.weight"], p["up.bias"], p["down.weight"],
          p["down.bias"]};
}

// parameter.grad() += g, as ffn_expert::backward_saved does
void add_to_grad(const torch::Tensor& parameter, const torch::Tensor& g) {
  auto& grad = const_cast<torch::Tensor&>(parameter).mutable_grad();
  if (grad.defined())
    grad.add_(g);
  else
    grad = g.clone();
}

// One round of every expert's forward and backward as batched products over the experts; each
// expert's parameter gradients are then added to its own grad() (its optimizer steps alone).
// `w` holds the weights stacked [experts, ...]; x and g are [experts, rows, hidden].
void grouped_round(const ffn_weights& w, const std::vector<ffn_weights>& each,
                   const torch::Tensor& x, const torch::Tensor& g, int64_t hidden) {
  auto norm_weight = w.norm_weight.unsqueeze(1);
  auto norm_bias = w.norm_bias.unsqueeze(1);
  auto [unit, mean, rstd] = torch::native_layer_norm(x, {hidden}, {}, {}, 1e-5);
  auto normalized = unit * norm_weight + norm_bias;
  auto inner = torch::baddbmm(w.up_bias.unsqueeze(1), normalized, w.up_weight.transpose(1, 2));
  auto activated = torch::gelu(inner);
  auto y = torch::baddbmm(w.down_bias.unsqueeze(1), activated, w.down_weight.transpose(1, 2));
  auto g_down_weight = torch::bmm(g.transpose(1, 2), activated);
  auto g_down_bias = g.sum(1);
  auto g_inner = torch::gelu_backward(torch::bmm(g, w.down_weight), inner);
  auto g_up_weight = torch::bmm(g_inner.transpose(1, 2), normalized);
  auto g_up_bias = g_inner.sum(1);
  auto g_normalized = torch::bmm(g_inner, w.up_weight);
  auto g_norm_weight = (g_normalized * unit).sum(1);
  auto g_norm_bias = g_normalized.sum(1);
  auto g_x = std::get<0>(torch::native_layer_norm_backward(
    g_normalized * norm_weight, x, {hidden}, mean, rstd, {}, {}, {true, false, false}));
  (void)y.unbind(0);  // every caller's rows, as a server hands them back
  (void)g_x.unbind(0);
  for (size_t e = 0; e < each.size(); ++e) {
    auto i = static_cast<int64_t>(e);
    add_to_grad(each[e].norm_weight, g_norm_weight[i]);
    add_to_grad(each[e].norm_bias, g_norm_bias[i]);
    add_to_grad(each[e].up_weight, g_up_weight[i]);
    add_to_grad(each[e].up_bias, g_up_bias[i]);
    add_to_grad(each[e].down_weight, g_down_weight[i]);
    add_to_grad(each[e].down_bias, g_down_bias[i]);
  }
}

ffn_weights stacked(const std::vector<ffn_weights>& ws) {
  auto stack = [&](torch::Tensor ffn_weights::*member) {
    std::vector<torch::Tensor> parts;
    for (const auto& w : ws)
      parts.push_back(w.*member);
    return torch::stack(parts);
  };
  return {stack(&ffn_weights::norm_weight), stack(&ffn_weights::norm_bias),
          stack(&ffn_weights::up_weight),   stack(&ffn_weights::up_bias),
          stack(&ffn_weights::down_weight), stack(&ffn_weights::down_bias)};
}

}  // namespace

grouped_figures measure_grouped_compute(int64_t experts, int64_t rows, int64_t hidden) {
  torch::NoGradGuard no_grad;
  auto inner = ffn_expansion * hidden;
  std::vector<std::shared_ptr<expert_module>> modules;
  std::vector<ffn_weights> weights;
  std::vector<torch::Tensor> xs, gs;
  for (int64_t e = 0; e < experts; ++e) {
    modules.push_back(*make_expert("ffn", hidden, static_cast<uint64_t>(e + 1)));
    weights.push_back(weights_of(*modules.back()));
    xs.push_back(torch::randn({rows, hidden}));
    gs.push_back(torch::randn({rows, hidden}) * 1e-3);
  }
  auto x = torch::stack(xs);
  auto g = torch::stack(gs);
  auto per_expert = seconds_per_round([&] {
    for (int64_t e = 0; e < experts; ++e) {
      std::vector<torch::Tensor> saved;
      modules[e]->forward_saving({xs[e]}, saved);
      modules[e]->backward_saved(saved, {gs[e]});
    }
  });
  auto grouped = seconds_per_round([&] { grouped_round(stacked(weights), weights, x, g, hidden); });
  auto prestacked_weights = stacked(weights);
  auto prestacked = seconds_per_round([&] { grouped_round(prestacked_weights, weights, x, g, hidden); });
  auto mm_only = seconds_per_round([&] {
    for (int64_t e = 0; e < experts; ++e) {
      const auto& w = weights[e];
      auto a = torch::mm(xs[e], w.up_weight.t());
      auto y = torch::mm(a, w.down_weight.t());
      auto g_a = torch::mm(gs[e], w.down_weight);
      auto g_x = torch::mm(g_a, w.up_weight);
      auto g_down = torch::mm(gs[e].t(), a);
      auto g_up = torch::mm(g_a.t(), xs[e]);
    }
  });
  auto flops = 6 * 2.0 * static_cast<double>(experts * rows * hidden * inner);
  return {flops / per_expert / 1e9, flops / grouped / 1e9, flops / prestacked / 1e9,
          flops / mm_only / 1e9};
}

namespace {

struct grouped_args {
  int64_t experts = 16;
  int64_t hidden = 64;
  std::vector<int64_t> rows{1, 2, 4, 8, 32};
  size_t torch_threads = 1;
};

void run_grouped_bench(const grouped_args& a) {
  configure_torch_threads(a.torch_threads);
  fmt::print("BLAS: {}\n", blas_in_use());
  fmt::print("{} ffn experts of hidden {}, forward keeping activations + backward from them, "
             "{} torch thread(s); GFLOPS of the six products\n",
             a.experts, a.hidden, a.torch_threads);
  fmt::print("{:>5} {:>11} {:>9} {:>12} {:>9} {:>16} {:>15}\n", "rows", "per expert", "grouped",
             "pre-stacked", "mm only", "grouped / per", "per / mm only");
  double worst = 0, best = 0;
  for (auto rows : a.rows) {
    auto f = measure_grouped_compute(a.experts, rows, a.hidden);
    auto ratio = std::max(f.grouped_gflops, f.prestacked_gflops) / f.per_expert_gflops;
    worst = worst == 0 ? ratio : std::min(worst, ratio);
    best = std::max(best, ratio);
    fmt::print("{:>5} {:>11.2f} {:>9.2f} {:>12.2f} {:>9.2f} {:>16.2f} {:>15.2f}\n", rows,
               f.per_expert_gflops, f.grouped_gflops, f.prestacked_gflops, f.mm_gflops, ratio,
               f.per_expert_gflops / f.mm_gflops);
  }
  fmt::print("summary: grouped / per-expert compute (the better grouped layout) from {:.2f} to "
             "{:.2f} over rows {}..{}\n",
             worst, best, a.rows.front(), a.rows.back());
}

}  // namespace

void add_grouped_bench(CLI::App& app) {
  auto a = std::make_shared<grouped_args>();
  auto* cmd = app.add_subcommand("grouped", "expert compute at few rows per expert: one by one "
                                            "(dmoe) against grouped products over experts");
  cmd->add_option("--experts", a->experts, "experts of one round")->check(CLI::Range(1, 4096));
  cmd->add_option("--hidden", a->hidden, "hidden size")->check(CLI::Range(8, 4096));
  cmd->add_option("--rows", a->rows, "rows per expert (default 1,2,4,8,32)")
    ->delimiter(',')
    ->check(CLI::Range(1, 4096));
  cmd->add_option("--torch-threads", a->torch_threads, "LibTorch/BLAS threads")
    ->check(CLI::Range(1, 64));
  cmd->callback([a] { run_grouped_bench(*a); });
}

}  // namespace dmoe::bench
