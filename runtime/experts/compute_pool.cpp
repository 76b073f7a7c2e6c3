#include "runtime/experts/compute_pool.hpp"

#include <exception>

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <malloc.h>

#include "runtime/logging.hpp"

namespace dmoe {

namespace {

// Inter-op parallelism (independent ops run concurrently) is unused by dmoe's experts; one
// thread keeps it from competing with intra-op threads on small machines. LibTorch allows
// setting it only once and only before first use, hence the guard and the catch.
void limit_interop_threads() {
  static std::once_flag once;
  std::call_once(once, [] {
    try {
      at::set_num_interop_threads(1);
    } catch (const std::exception&) {
      // already set or already in use: keep LibTorch's choice
    }
  });
}

}  // namespace

void keep_freed_memory() {
  // 32 MiB is glibc's largest mmap threshold (HEAP_MAX / 2 on 64 bits); blocks above it still
  // come from mmap.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

void configure_torch_threads(size_t threads) {
  auto n = static_cast<int>(threads == 0 ? 1 : threads);
  using set_threads_fn = void (*)(int);
  if (auto openblas = reinterpret_cast<set_threads_fn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    openblas(n);
    at::set_num_threads(1);
  } else {
    at::set_num_threads(n);
  }
}

compute_pool::compute_pool(size_t threads, size_t torch_threads, std::string name)
  : name_(std::move(name)), torch_threads_(torch_threads == 0 ? 1 : torch_threads) {
  keep_freed_memory();
  limit_interop_threads();
  if (threads == 0)
    threads = 1;
  for (size_t i = 0; i < threads; ++i)
    threads_.emplace_back([this, i] { run(i); });
}

compute_pool::~compute_pool() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stopping_ = true;
    jobs_.clear();
  }
  wakeup_.notify_all();
  for (auto& t : threads_) {
    if (t.get_id() == std::this_thread::get_id())
      t.detach();  // the last owner let go inside a job: this thread ends after it
    else if (t.joinable())
      t.join();
  }
}

void compute_pool::post(job j) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (stopping_)
      return;
    jobs_.push_back(std::move(j));
  }
  wakeup_.notify_one();
}

void compute_pool::run(size_t index) {
  at::init_num_threads();
  configure_torch_threads(torch_threads_);
  for (;;) {
    job next;
    {
      std::unique_lock<std::mutex> lock{mutex_};
      wakeup_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_)
        return;
      next = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      next();
    } catch (const std::exception& e) {
      log::get(name_)->error("compute thread {}: job failed: {}", index, e.what());
    } catch (...) {
      log::get(name_)->error("compute thread {}: job failed with an unknown exception", index);
    }
  }
}

}  // namespace dmoe
