// Activations an expert's forward kept for the backward of the same inputs (time passed in).
//
// A forward batch of several calls keeps one block: the activations of all its rows, and for
// each call its inputs and its rows in the block. A backward call finds its entry by the
// content of its inputs (a fingerprint, then exact equality), so no id has to travel with the
// calls: a backward that reaches another replica, or comes after its entry expired or was
// evicted, finds nothing and the caller recomputes. An entry is used once. Memory counts whole
// blocks (a block stays alive while any of its entries does); when the budget is exceeded the
// oldest entries go first, and entries older than `ttl` are dropped.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include <torch/types.h>

namespace dmoe {

class activation_store {
public:
  using clock = std::chrono::steady_clock;

  /// The activations of one forward batch, every tensor with the batch as dimension 0.
  struct block {
    std::vector<torch::Tensor> saved;
  };

  /// One call's rows of a block.
  struct rows {
    std::shared_ptr<const block> from;
    int64_t offset = 0;
    int64_t count = 0;
  };

  /// One call of a forward batch: its inputs and how many rows it has, in batch order.
  struct call {
    std::vector<torch::Tensor> inputs;
    int64_t count = 0;
  };

  struct counters {
    uint64_t kept = 0;     // calls whose activations were kept
    uint64_t used = 0;     // backward calls that found theirs
    uint64_t missed = 0;   // backward calls that did not (recomputed)
    uint64_t evicted = 0;  // entries dropped for the memory budget
    uint64_t expired = 0;  // entries dropped after ttl
  };

  activation_store(size_t budget_bytes, clock::duration ttl);

  /// Keeps the block of one forward batch for its calls (in batch order); nothing when the
  /// block alone exceeds the budget.
  void keep(std::vector<torch::Tensor> saved, std::vector<call> calls, clock::time_point now);

  /// The rows kept for exactly these inputs, removed from the store; none when there are none.
  std::optional<rows> take(const std::vector<torch::Tensor>& inputs, clock::time_point now);

  /// Drops everything.
  void clear();

  /// Bytes of the blocks still referenced by an entry.
  size_t bytes() const {
    return bytes_;
  }
  size_t entries() const {
    return entries_.size();
  }
  size_t budget() const {
    return budget_;
  }
  const counters& stats() const {
    return counters_;
  }

  /// A cheap hash of the tensors' shapes, dtypes and a sample of their bytes.
  static uint64_t fingerprint(const std::vector<torch::Tensor>& tensors);

private:
  struct tracked_block {
    block content;
    size_t bytes = 0;
    size_t live_entries = 0;
  };

  struct entry {
    uint64_t print = 0;
    std::vector<torch::Tensor> inputs;
    std::shared_ptr<tracked_block> from;
    int64_t offset = 0;
    int64_t count = 0;
    clock::time_point since;
  };

  using entry_list = std::list<entry>;  // oldest first

  void drop(entry_list::iterator i);
  void drop_expired(clock::time_point now);

  size_t budget_;
  clock::duration ttl_;
  size_t bytes_ = 0;
  entry_list entries_;
  std::unordered_multimap<uint64_t, entry_list::iterator> by_print_;
  counters counters_;
};

}  // namespace dmoe
