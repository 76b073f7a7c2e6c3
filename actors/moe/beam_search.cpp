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
  const auto& dim = scores_[depth_];
  // Children are scored as (score, prefix, coordinate) first; only those that can still be kept
  // are built as experts. In the last dimension that is the best `wanted` of all prefixes'
  // children (with 64 x 64 experts: 8 built instead of up to 4,096 per sample).
  struct candidate {
    double score;
    size_t prefix;
    int64_t child;
  };
  std::vector<candidate> candidates;
  bool distinct = true;  // the beam's prefixes are; so are their children when each list ascends
  for (size_t p = 0; p < beam_.size(); ++p) {
    const auto* children = live_children(beam_[p].coords);
    if (children == nullptr)
      continue;
    int64_t previous = -1;
    for (auto c : *children) {
      if (c < 0 || static_cast<size_t>(c) >= dim.size())
        continue;  // a declaration outside this layer's grid
      distinct = distinct && c > previous;
      previous = c;
      candidates.push_back({beam_[p].score + dim[static_cast<size_t>(c)], p, c});
    }
  }
  bool last = depth_ + 1 == dims();
  if (last && distinct && candidates.size() > wanted_) {
    auto best_first = [this](const candidate& a, const candidate& b) {
      if (a.score != b.score)
        return a.score > b.score;
      const auto& pa = beam_[a.prefix].coords;
      const auto& pb = beam_[b.prefix].coords;
      return pa != pb ? pa < pb : a.child < b.child;
    };
    std::nth_element(candidates.begin(), candidates.begin() + static_cast<ptrdiff_t>(wanted_ - 1),
                     candidates.end(), best_first);
    candidates.resize(wanted_);
  }
  std::vector<scored_expert> next;
  next.reserve(candidates.size());
  for (const auto& c : candidates) {
    scored_expert child;
    child.coords.reserve(depth_ + 1);
    child.coords = beam_[c.prefix].coords;
    child.coords.push_back(c.child);
    child.score = c.score;
    next.push_back(std::move(child));
  }
  if (!distinct) {  // an oracle listed a child twice (e.g. merged replies): keep each once
    std::sort(next.begin(), next.end(), [](const auto& a, const auto& b) { return a.coords < b.coords; });
    next.erase(std::unique(next.begin(), next.end(),
                           [](const auto& a, const auto& b) { return a.coords == b.coords; }),
               next.end());
  }
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
