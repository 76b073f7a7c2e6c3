// Dedicated threads for LibTorch work, so compute never runs on (and never blocks) CAF's
// scheduler threads. Jobs run in submission order; results go back to actors by anon_send from
// inside the job. Each thread calls configure_torch_threads(torch_threads) when it starts.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dmoe {

/// Lets LibTorch work started from the calling thread use `threads` cores. When LibTorch calls
/// OpenBLAS (Debian's build), the threads go to OpenBLAS (process-wide) and LibTorch's own
/// OpenMP intra-op pool gets one thread: idle OpenMP threads spin (OMP_WAIT_POLICY is active by
/// default) and steal the cores BLAS needs; measured with hidden 1024, batch 256 on 2 cores,
/// OpenMP 1 + OpenBLAS 2 ran an ffn forward+backward at 1.24x the speed of OpenMP 2 + OpenBLAS 2
/// and as fast as OpenMP 2 with OMP_WAIT_POLICY=passive. Element-wise ops (LayerNorm, GELU) are
/// a few percent of an expert's work. Without OpenBLAS, OpenMP gets the threads.
void configure_torch_threads(size_t threads);

/// Makes glibc keep freed tensor memory for the next batch instead of handing it back to the
/// kernel (process-wide; every compute_pool calls it). By default glibc serves large blocks by
/// mmap and returns them at free, so every batch's activations, gradients and optimizer
/// temporaries are fresh pages the kernel must fault in and zero: measured on a 2-core VM, an
/// ffn expert at hidden 1024, batch 256, spent 23 % of its time in the kernel's clear_page, and
/// with blocks up to 32 MiB kept on the heap (trimmed only past 1 GiB free) it ran 1.37x faster
/// (772,670 page faults in 4 s down to 104,342, most of them the first touch of the weights).
void keep_freed_memory();

class compute_pool {
public:
  using job = std::function<void()>;

  /// `name` prefixes log lines (a job that throws is logged and dropped).
  compute_pool(size_t threads, size_t torch_threads, std::string name);

  /// Stops the threads once their current job ends; jobs still queued are dropped.
  ~compute_pool();

  compute_pool(const compute_pool&) = delete;
  compute_pool& operator=(const compute_pool&) = delete;

  void post(job j);

private:
  void run(size_t index);

  std::string name_;
  size_t torch_threads_;
  std::mutex mutex_;
  std::condition_variable wakeup_;
  std::deque<job> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace dmoe
