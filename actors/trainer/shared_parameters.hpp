// The trainer's local parameters (everything but the experts, which live on servers) shared by
// its workers: asynchronous SGD with bounded staleness inside one process.
//
// Each worker trains its own replica of the model: it reads the current parameters into the
// replica, computes a forward and backward pass on its batch (waiting for remote experts while
// the other workers compute), then applies the replica's gradients to the shared parameters with
// one optimizer step. A gradient may thus be computed from parameters that other workers updated
// meanwhile; its staleness is the number of such updates. Workers of equal speed give about
// workers - 1; a straggler (a step that waited long for a slow or failing expert) can see more,
// and a gradient staler than `max_staleness` is dropped instead of applied, so no applied update
// is staler than that. Nobody waits for anybody: bounding staleness by blocking fast workers
// would give back the overlap the workers exist for. With one worker the replica is the model
// itself and nothing is copied: plain synchronous training.
//
// With `divide_stale` an update's rate is the schedule's divided by its staleness (when > 1),
// after Zhang et al., "Staleness-aware Async-SGD" (IJCAI 2016): Adam moves every parameter by
// about the rate whatever the gradient's size, so W workers' gradients of one direction, all
// read before the first of them lands, would move it W times as far as one synchronous step.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include <torch/nn/module.h>
#include <torch/optim/adam.h>
#include <torch/serialize/archive.h>

namespace dmoe {

class shared_parameters {
public:
  /// The learning rate of update number `index` (0 for the first).
  using schedule = std::function<double(uint64_t index)>;

  /// `model` holds the shared parameters; Adam updates them at the rates `rate` gives
  /// (divided by the update's staleness with `divide_stale`).
  shared_parameters(std::shared_ptr<torch::nn::Module> model, schedule rate,
                    uint64_t max_staleness, bool divide_stale = false);

  /// Copies the shared parameters into `replica` (same architecture) and clears its gradients;
  /// returns the version read (the number of updates applied so far).
  uint64_t read(torch::nn::Module& replica);

  struct update {
    uint64_t version = 0;    // after this call
    uint64_t staleness = 0;  // updates applied between read() and this one
    bool applied = true;     // false: dropped, staler than max_staleness
  };

  /// Applies `replica`'s gradients (computed from the parameters of `read_version`) with one
  /// optimizer step, unless they are staler than max_staleness.
  update apply(torch::nn::Module& replica, uint64_t read_version);

  /// Runs `f` on the shared model while no update can happen (e.g. an evaluation).
  void with_model(const std::function<void(torch::nn::Module&)>& f);

  /// The parameters, the optimizer's state and the version, for a checkpoint; no update
  /// happens meanwhile.
  void save(torch::serialize::OutputArchive& archive);
  /// Throws (c10::Error) when the archive does not fit this model.
  void load(torch::serialize::InputArchive& archive);

  uint64_t version() {
    std::lock_guard<std::mutex> guard{mtx_};
    return version_;
  }

  torch::nn::Module& model() {
    return *model_;
  }

private:
  std::mutex mtx_;
  std::shared_ptr<torch::nn::Module> model_;
  schedule rate_;
  torch::optim::Adam optimizer_;
  uint64_t max_staleness_;
  bool divide_stale_;
  uint64_t version_ = 0;
};

}  // namespace dmoe
