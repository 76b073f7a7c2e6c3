// One batching task pool's queue (pure logic, time passed in): calls wait here until enough
// samples arrived to fill a batch of at most `max_samples`, or the oldest waited `max_wait` —
// but only while more calls are likely to come: when most recent calls came more than
// `max_wait` after the one before (a moving share over the last ~8 arrivals, below one half),
// waiting would only add latency, and a batch starts at once. A fresh queue does not wait.
// With `adaptive` false every batch waits (the policy before, for callers that know better).
// A batch holds only calls with equal merge keys (the same non-batch dimensions); it skips calls
// that do not fit, which stay queued in order. Calls are taken in fair order across lanes (one
// per caller): every lane's oldest waiting call first, then every lane's second, and so on, in
// arrival order within each round, so one caller's backlog cannot hold the others' calls back.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dmoe {

template <class Item>
class batch_queue {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  struct entry {
    Item item;
    size_t samples = 0;
    std::vector<int64_t> key;
    time_point since;
    uint64_t lane = 0;
  };

  batch_queue(size_t max_samples, clock::duration max_wait, bool adaptive = true)
    : max_samples_(max_samples), max_wait_(max_wait), adaptive_(adaptive) {
  }

  /// `samples` must be in 1..max_samples (callers reject larger requests before); `lane`
  /// names the caller for the fair order.
  void push(Item item, size_t samples, std::vector<int64_t> key, time_point now,
            uint64_t lane = 0) {
    if (last_arrival_) {
      auto close = now - *last_arrival_ < max_wait_ ? 1.0 : 0.0;
      close_share_ += (close - close_share_) * arrival_weight;
    }
    last_arrival_ = now;
    samples_ += samples;
    entries_.push_back(entry{std::move(item), samples, std::move(key), now, lane});
  }

  bool empty() const {
    return entries_.empty();
  }

  /// Queued calls.
  size_t size() const {
    return entries_.size();
  }

  /// Queued samples.
  size_t samples() const {
    return samples_;
  }

  /// When the oldest call's wait runs out; only meaningful when not empty.
  time_point deadline() const {
    return entries_.front().since + max_wait_;
  }

  /// True when the next batch should start: it is full (no further queued call fits), its
  /// oldest call has waited max_wait, or no further call is expected soon.
  bool ready(time_point now) const {
    if (entries_.empty())
      return false;
    return now >= deadline() || !more_expected() || plan().full;
  }

  /// Whether most recent calls came within max_wait of the previous one (always without
  /// `adaptive`).
  bool more_expected() const {
    return !adaptive_ || close_share_ >= 0.5;
  }

  /// Removes and returns the next batch (empty when the queue is).
  std::vector<entry> take() {
    std::vector<entry> batch;
    if (entries_.empty())
      return batch;
    auto chosen = plan().indices;
    std::deque<entry> rest;
    size_t next = 0;
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (next < chosen.size() && chosen[next] == i) {
        samples_ -= entries_[i].samples;
        batch.push_back(std::move(entries_[i]));
        ++next;
      } else {
        rest.push_back(std::move(entries_[i]));
      }
    }
    entries_ = std::move(rest);
    return batch;
  }

private:
  struct batch_plan {
    std::vector<size_t> indices;
    bool full = false;
  };

  /// Entry indices in fair order: rank within its lane first, then arrival.
  std::vector<size_t> fair_order() const {
    std::unordered_map<uint64_t, size_t> seen;
    std::vector<std::vector<size_t>> by_rank;
    for (size_t i = 0; i < entries_.size(); ++i) {
      auto rank = seen[entries_[i].lane]++;
      if (rank == by_rank.size())
        by_rank.emplace_back();
      by_rank[rank].push_back(i);
    }
    std::vector<size_t> order;
    order.reserve(entries_.size());
    for (auto& round : by_rank)
      order.insert(order.end(), round.begin(), round.end());
    return order;
  }

  /// The next batch's entries in increasing index order.
  batch_plan plan() const {
    batch_plan out;
    size_t total = 0;
    auto order = fair_order();
    const auto& key = entries_[order.front()].key;
    for (auto i : order) {
      if (entries_[i].key != key)
        continue;
      // The first call always goes in, so an oversized call cannot block the queue forever.
      if (total + entries_[i].samples > max_samples_ && !out.indices.empty()) {
        out.full = true;
        break;
      }
      total += entries_[i].samples;
      out.indices.push_back(i);
    }
    out.full = out.full || total >= max_samples_;
    std::sort(out.indices.begin(), out.indices.end());
    return out;
  }

  static constexpr double arrival_weight = 1.0 / 8;

  size_t max_samples_;
  clock::duration max_wait_;
  bool adaptive_;
  std::optional<time_point> last_arrival_;
  double close_share_ = 0;  // moving share of arrivals within max_wait of the previous one
  std::deque<entry> entries_;
  size_t samples_ = 0;
};

}  // namespace dmoe
