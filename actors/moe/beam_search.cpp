#include "actors/moe/beam_search.hpp"

#include <algorithm>
#include <stdexcept>

namespace dmoe::moe {

namespace {

// Sums compared across different summation orders may differ in the last bits.
constexpr double bound_slack = 1e-9;

bool better(const scored_expert& a, const scored_expert& b) {
  return a.score > b.score || (a.score == b.score && a.coords < b.coords);
}

}  // namespace

beam_search::beam_search(std::vector<std::vector<float>> dim_scores, size_t wanted,
                         size_t max_width)
  : scores_(std::move(dim_scores)), wanted_(wanted), max_width_(std::max(max_width, wanted)) {
  max_suffix_.assign(scores_.size() + 1, 0.0);
  min_suffix_.assign(scores_.size() + 1, 0.0);
  for (size_t d = scores_.size(); d-- > 0;) {
    if (scores_[d].empty())
      throw std::invalid_argument("beam_search: a grid dimension without scores");
    auto [lo, hi] = std::minmax_element(scores_[d].begin(), scores_[d].end());
    max_suffix_[d] = max_suffix_[d + 1] + *hi;
    min_suffix_[d] = min_suffix_[d + 1] + *lo;
  }
  if (wanted_ > 0 && !scores_.empty())
    beam_.push_back(scored_expert{{}, 0.0});
}

double beam_search::bound(const scored_expert& prefix, const std::vector<double>& suffix) const {
  return prefix.score + suffix[prefix.coords.size()];
}

void beam_search::expand(const live_children_fn& live_children) {
  if (done())
    return;
  std::vector<scored_expert> next;
  const auto& dim = scores_[depth_];
  for (const auto& prefix : beam_) {
    const auto* children = live_children(prefix.coords);
    if (children == nullptr)
      continue;
    for (auto c : *children) {
      if (c < 0 || static_cast<size_t>(c) >= dim.size())
        continue;  // a declaration outside this layer's grid
      scored_expert child{prefix.coords, prefix.score + dim[static_cast<size_t>(c)]};
      child.coords.push_back(c);
      next.push_back(std::move(child));
    }
  }
  // The oracle may list a child twice (e.g. merged replies); keep each prefix once.
  std::sort(next.begin(), next.end(), [](const auto& a, const auto& b) { return a.coords < b.coords; });
  next.erase(std::unique(next.begin(), next.end(),
                         [](const auto& a, const auto& b) { return a.coords == b.coords; }),
             next.end());
  beam_ = std::move(next);
  ++depth_;
  prune();
}

void beam_search::prune() {
  if (beam_.size() <= wanted_)
    return;
  if (done()) {
    std::partial_sort(beam_.begin(), beam_.begin() + static_cast<ptrdiff_t>(wanted_), beam_.end(),
                      better);
    beam_.resize(wanted_);
    return;
  }
  // The wanted-th best guaranteed score: at least `wanted` live experts score this much.
  std::vector<double> guaranteed;
  guaranteed.reserve(beam_.size());
  for (const auto& p : beam_)
    guaranteed.push_back(bound(p, min_suffix_));
  std::nth_element(guaranteed.begin(), guaranteed.begin() + static_cast<ptrdiff_t>(wanted_ - 1),
                   guaranteed.end(), std::greater<>());
  auto threshold = guaranteed[wanted_ - 1] - bound_slack;
  beam_.erase(std::remove_if(beam_.begin(), beam_.end(),
                             [&](const auto& p) { return bound(p, max_suffix_) < threshold; }),
              beam_.end());
  if (beam_.size() > max_width_) {
    std::sort(beam_.begin(), beam_.end(), [&](const auto& a, const auto& b) {
      return bound(a, max_suffix_) > bound(b, max_suffix_);
    });
    beam_.resize(max_width_);
  }
}

std::vector<scored_expert> beam_search::ranked() const {
  auto out = beam_;
  std::sort(out.begin(), out.end(), better);
  if (out.size() > wanted_)
    out.resize(wanted_);
  return out;
}

std::vector<scored_expert> find_best_experts(std::vector<std::vector<float>> dim_scores,
                                             size_t wanted, const live_children_fn& live_children,
                                             size_t max_width) {
  beam_search search{std::move(dim_scores), wanted, max_width};
  while (!search.done())
    search.expand(live_children);
  return search.ranked();
}

}  // namespace dmoe::moe
