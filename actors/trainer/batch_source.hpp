// The training set's batches, in a fresh random order every epoch, handed out to any number of
// workers (thread-safe). Uses LibTorch's global generator, seeded by the trainer.
#pragma once

#include <mutex>
#include <optional>

#include <torch/types.h>

namespace dmoe {

class batch_source {
public:
  /// `epochs` 0: no end.
  batch_source(int64_t samples, size_t batch_size, size_t epochs);

  struct batch {
    torch::Tensor indices;  // into the training set
    size_t epoch = 0;
  };

  /// The next batch; nullopt once every epoch has been handed out.
  std::optional<batch> next();

  size_t steps_per_epoch() const;

  /// Where it stands, for a checkpoint: the current epoch, its order and the next batch's
  /// start. Batches handed out but not trained yet count as done.
  struct position {
    size_t epoch = 0;
    int64_t begin = 0;
    torch::Tensor order;  // undefined before the first batch
  };
  position where() const;
  /// Goes on from `p` (of a source over as many samples). False when it does not fit.
  bool resume(const position& p);

private:
  int64_t samples_;
  int64_t batch_size_;
  size_t epochs_;
  mutable std::mutex mtx_;
  torch::Tensor order_;
  int64_t begin_ = 0;
  size_t epoch_ = 0;
};

}  // namespace dmoe
