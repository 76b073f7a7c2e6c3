#include "actors/trainer/batch_source.hpp"

#include <algorithm>

namespace dmoe {

batch_source::batch_source(int64_t samples, size_t batch_size, size_t epochs)
  : samples_(samples), batch_size_(static_cast<int64_t>(batch_size)), epochs_(epochs) {
}

size_t batch_source::steps_per_epoch() const {
  return static_cast<size_t>((samples_ + batch_size_ - 1) / batch_size_);
}

std::optional<batch_source::batch> batch_source::next() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!order_.defined() || begin_ >= samples_) {
    if (order_.defined())
      ++epoch_;
    if (epochs_ > 0 && epoch_ >= epochs_)
      return std::nullopt;
    order_ = torch::randperm(samples_, torch::kInt64);
    begin_ = 0;
  }
  auto end = std::min(samples_, begin_ + batch_size_);
  batch out{order_.slice(0, begin_, end), epoch_};
  begin_ = end;
  return out;
}

batch_source::position batch_source::where() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return {epoch_, begin_, order_.defined() ? order_.clone() : torch::Tensor{}};
}

bool batch_source::resume(const position& p) {
  if (p.order.defined()
      && (p.order.dim() != 1 || p.order.size(0) != samples_
          || p.order.scalar_type() != torch::kInt64 || p.begin < 0 || p.begin > samples_))
    return false;
  std::lock_guard<std::mutex> guard{mtx_};
  epoch_ = p.epoch;
  begin_ = p.order.defined() ? p.begin : 0;
  order_ = p.order.defined() ? p.order.clone() : torch::Tensor{};
  return true;
}

}  // namespace dmoe
