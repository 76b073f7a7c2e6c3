// Counters of one hosted expert, written by its actor and read by the server for stats (plain
// atomics, so stats never wait for a busy expert).
#pragma once

#include <atomic>
#include <cstdint>

namespace dmoe {

struct expert_counters {
  std::atomic<uint64_t> requests{0};       // calls naming this expert, valid or not
  std::atomic<uint64_t> samples{0};        // samples computed
  std::atomic<uint64_t> batches{0};        // compute batches
  std::atomic<uint64_t> batched_calls{0};  // calls computed in those batches
  std::atomic<uint64_t> max_merged_callers{0};
  std::atomic<uint64_t> queued{0};         // calls waiting for a batch
  std::atomic<uint64_t> errors{0};         // calls answered with an error

  void note_batch(uint64_t calls, uint64_t batch_samples) {
    batches += 1;
    batched_calls += calls;
    samples += batch_samples;
    auto seen = max_merged_callers.load();
    while (calls > seen && !max_merged_callers.compare_exchange_weak(seen, calls)) {
    }
  }
};

}  // namespace dmoe
