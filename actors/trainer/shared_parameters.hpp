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
//
// With `accumulate` = A > 1 the gradients of A batches are averaged into one optimizer step
// (the step is taken when the A-th arrives; nobody waits). With A = workers, staleness counted
// in steps stays about 1 instead of workers - 1, at the price of A times fewer, larger steps:
// measured, W stale Adam steps per W batches diverge where one averaged step converges.
// Staleness and versions count optimizer steps; `gradients` counts the batches applied (the
// training loop's steps). The loop flushes a partial sum when training ends or stops; a
// periodic checkpoint does not hold one, so a crash loses at most A - 1 batches' gradients.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <torch/nn/module.h>
#include <torch/optim/adam.h>
#include <torch/serialize/archive.h>

namespace dmoe {

class shared_parameters {
public:
  /// The learning rate of the optimizer step taken after `gradients` batches (0 for the first).
  using schedule = std::function<double(uint64_t gradients)>;

  struct policy {
    uint64_t max_staleness = 1;  // staler gradients (in optimizer steps) are dropped
    bool divide_stale = false;   // a step's rate divided by its staleness
    uint64_t accumulate = 1;     // gradients averaged into one optimizer step
  };

  /// `model` holds the shared parameters; Adam updates them at the rates `rate` gives.
  shared_parameters(std::shared_ptr<torch::nn::Module> model, schedule rate, policy p);

  /// Copies the shared parameters into `replica` (same architecture) and clears its gradients;
  /// returns the version read (the number of optimizer steps taken so far).
  uint64_t read(torch::nn::Module& replica);

  struct update {
    uint64_t gradients = 0;  // batches applied so far, this one included unless dropped
    uint64_t version = 0;    // optimizer steps taken, after this call
    uint64_t staleness = 0;  // optimizer steps taken between read() and this call
    bool applied = true;     // false: dropped, staler than max_staleness
    bool stepped = false;    // this gradient completed an optimizer step
  };

  /// Adds `replica`'s gradients (computed from the parameters of `read_version`) to the next
  /// optimizer step, and takes that step once `accumulate` gradients are in; drops them
  /// instead when they are staler than max_staleness.
  update apply(torch::nn::Module& replica, uint64_t read_version);

  /// Takes the optimizer step of a partial sum of gradients (fewer than `accumulate`), if any:
  /// at the end of training, so that every batch applied moves the model. Returns whether it
  /// stepped.
  bool flush();

  /// Runs `f` on the shared model while no update can happen (e.g. an evaluation).
  void with_model(const std::function<void(torch::nn::Module&)>& f);

  /// The parameters, the optimizer's state and the counts, for a checkpoint (not a partial
  /// sum of gradients); no update happens meanwhile.
  void save(torch::serialize::OutputArchive& archive);
  /// Throws (c10::Error) when the archive does not fit this model.
  void load(torch::serialize::InputArchive& archive);

  /// Batches applied (dropped ones not counted).
  uint64_t gradients() {
    std::lock_guard<std::mutex> guard{mtx_};
    return gradients_;
  }

  torch::nn::Module& model() {
    return *model_;
  }

private:
  void step_with_sum();
  void step();

  std::mutex mtx_;
  std::shared_ptr<torch::nn::Module> model_;
  schedule rate_;
  policy policy_;
  torch::optim::Adam optimizer_;
  uint64_t gradients_ = 0;
  uint64_t version_ = 0;
  std::vector<torch::Tensor> sum_;  // of the gradients since the last step (accumulate > 1)
  uint64_t summed_ = 0;
  uint64_t sum_staleness_ = 0;      // the stalest gradient in the sum
};

}  // namespace dmoe
