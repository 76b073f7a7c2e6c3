// Beam search over an expert grid (pure logic: no actors, no DHT, no LibTorch).
//
// An expert "ffn.3.17" has coordinates {3, 17}; its score for one sample is the sum of the
// gating scores of its coordinates, one score vector per grid dimension. The set of live experts
// is only known through a "live children" oracle: for a prefix of coordinates ({} or {3}) it
// lists the coordinates that follow it in some live expert (the DHT's sub-keys under "ffn." and
// "ffn.3."). The search walks the grid one dimension at a time, asking the oracle only about the
// prefixes still in the beam, so a router can fetch one level of DHT keys per round.
//
// Pruning is exact: a prefix p is dropped only when even its best possible completion
// (score(p) + the maxima of the remaining dimensions) scores below the `wanted`-th best
// guaranteed score among the beam (score(q) + the minima of the remaining dimensions; every live
// prefix has at least one live completion). With `max_width` no smaller than the beam this
// returns exactly the brute-force top `wanted` live experts; `max_width` caps the work on huge
// grids (then the prefixes with the best upper bounds are kept).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace dmoe::moe {

using grid_coords = std::vector<int64_t>;

struct scored_expert {
  grid_coords coords;
  double score = 0;
};

/// Live next coordinates after `prefix`; nullptr or empty when none are known.
using live_children_fn = std::function<const std::vector<int64_t>*(const grid_coords& prefix)>;

/// Default cap on the prefixes kept per level and sample.
constexpr size_t default_max_beam_width = 256;

class beam_search {
public:
  /// `dim_scores[d][c]` is the score of coordinate c in dimension d. Keeps the best `wanted`.
  beam_search(std::vector<std::vector<float>> dim_scores, size_t wanted,
              size_t max_width = default_max_beam_width);

  /// True once every dimension has been expanded.
  bool done() const {
    return depth_ == dims();
  }

  size_t depth() const {
    return depth_;
  }

  size_t dims() const {
    return scores_.size();
  }

  /// The prefixes (length depth()) whose live children the next expand() reads.
  const std::vector<scored_expert>& beam() const {
    return beam_;
  }

  /// Extends every prefix in the beam by its live children and prunes.
  void expand(const live_children_fn& live_children);

  /// After done(): the kept live experts, best first, at most `wanted`.
  std::vector<scored_expert> ranked() const;

private:
  double bound(const scored_expert& prefix, const std::vector<double>& suffix) const;
  void prune();

  std::vector<std::vector<float>> scores_;
  std::vector<double> max_suffix_;  // max_suffix_[d]: sum of the maxima of dimensions >= d
  std::vector<double> min_suffix_;  // min_suffix_[d]: sum of the minima of dimensions >= d
  size_t wanted_;
  size_t max_width_;
  size_t depth_ = 0;
  std::vector<scored_expert> beam_;
};

/// The whole search at once with a synchronous oracle: the best `wanted` live experts.
std::vector<scored_expert> find_best_experts(std::vector<std::vector<float>> dim_scores,
                                             size_t wanted, const live_children_fn& live_children,
                                             size_t max_width = default_max_beam_width);

}  // namespace dmoe::moe
