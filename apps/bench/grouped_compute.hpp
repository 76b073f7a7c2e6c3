// Expert compute at few rows per expert, and whether computing the experts of one round together
// (grouped matrix products over experts of one shape) would be faster.
//
// With thousands of experts each gets few rows of a merged batch. Three ways to compute one
// round of `experts` ffn experts (forward keeping activations, then backward from them: what a
// server computes per call pair, without the optimizer step, which stays per expert either way):
//   - per expert: dmoe's own ffn_expert::forward_saving / backward_saved, one expert after the
//     other (what servers do);
//   - grouped: the experts' weights stacked into [experts, ...] tensors each round, the rows
//     padded to one count, batched products (baddbmm/bmm) over all experts at once;
//   - grouped, pre-stacked: the same without the stacking, as if every expert's parameters lived
//     in one server-wide tensor (the best a grouped layout could do);
// and torch::mm alone on the six products at those shapes, expert after expert.
#pragma once

#include <cstdint>

namespace dmoe::bench {

struct grouped_figures {
  double per_expert_gflops = 0;
  double grouped_gflops = 0;
  double prestacked_gflops = 0;
  double mm_gflops = 0;  // torch::mm alone on the six products, expert after expert
};

/// The four figures for `experts` ffn experts of `hidden` at `rows` rows each (median of a few
/// timed repeats after a warm-up, in the calling thread's LibTorch settings).
grouped_figures measure_grouped_compute(int64_t experts, int64_t rows, int64_t hidden);

}  // namespace dmoe::bench
