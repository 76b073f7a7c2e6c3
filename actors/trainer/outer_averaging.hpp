// One model from many trainers: DiLoCo outer steps over the averager (actors/averager).
//
// Every `averaging.every` local steps (the all-reduce overlapped: the trainer waits for its group
// to form, then trains on while the pseudo-gradient is averaged, and keeps that progress on top
// of the outer step) the trainer's shared parameters (everything but the
// experts) take an outer step: the pseudo-gradient, the parameters at the last outer step minus
// the current ones, is averaged over a group of the run's trainers (weighted by the samples each
// processed since), and an outer Nesterov step (DiLoCo: lr 0.7, momentum 0.9) applies the
// average to the parameters of the last outer step, identically on every member: same start,
// same momentum, same average bytes, same result. The inner optimizer's state stays local.
//
// A trainer alone in its run (no other member declared) skips its rounds. When a round fails
// the trainer keeps its local parameters and tries again `every` steps
// later (its pseudo-gradient then spans both periods). A trainer that finds itself behind the
// run (another member declared a later outer step) or out of sync with a leader (same outer step,
// other parameters: two groups formed apart) downloads the state of a member ahead and goes on
// from there. At start (averaging.join-state) it downloads the state of the run's most advanced
// member; without one it starts from the run's common initialisation (seeded by the run name).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/logger.h>
#include <torch/nn/module.h>

#include "actors/averager/member.hpp"
#include "actors/trainer/trainer_metrics.hpp"

namespace dmoe {

class outer_averaging {
public:
  /// `model` holds the shared parameters; `signature` names its architecture (a state of
  /// another signature is refused).
  outer_averaging(caf::actor_system& system, member_setup setup, torch::nn::Module& model,
                  std::string signature, spdlog::logger& log);

  /// At start: the run's state when a member has one (join-state), then serves its own.
  void join(torch::nn::Module& model);

  /// Runs a function on the model while no local update happens.
  using model_access = std::function<void(const std::function<void(torch::nn::Module&)>&)>;

  /// One outer step with `weight` samples since the last one, reaching the model only through
  /// `access`; false when the round failed and the parameters stayed local. The pseudo-gradient
  /// is taken once the group formed. With `overlapped` the trainer trains on meanwhile (what it
  /// adds after the pseudo-gradient was taken is kept on top of the outer step) and only the
  /// time the model was held counts as averaging time here (the caller adds the time it waited
  /// for a round still under way: add_paused); otherwise the whole round does.
  bool step(const model_access& access, double weight, bool overlapped);

  /// The run's parameters of the last outer step into `model`, dropping what it trained since
  /// (when training ends and the last round failed).
  void settle(torch::nn::Module& model);

  /// Seconds training waited for averaging outside step() (for the metrics).
  void add_paused(double seconds) {
    std::lock_guard<std::mutex> guard{seconds_mtx_};
    seconds_ += seconds;
  }

  uint64_t outer_step() const {
    return outer_step_;
  }
  uint64_t fingerprint() const {
    return fingerprint_;
  }
  size_t elements() const {
    return start_.size();
  }
  /// What averaging did so far, into the trainer's metrics.
  void report(trainer_metrics& m) const;

private:
  /// Loads a downloaded state into the model and this outer optimizer.
  void adopt(torch::nn::Module& model, const averaging_state& state);
  void publish();
  /// Downloads the state of `ahead` (or another member's); whether it did.
  bool catch_up(const model_access& access, const avg::member& ahead);

  averaging_member member_;
  averaging_options options_;
  std::string signature_;
  spdlog::logger& log_;
  std::vector<float> start_;     // the parameters after the last outer step
  std::vector<float> momentum_;  // the outer optimizer's
  uint64_t outer_step_ = 0;
  uint64_t fingerprint_ = 0;
  size_t failed_ = 0;
  bool alone_ = false;  // no other member declared at the last outer step
  size_t averaged_with_ = 0;
  double megabytes_ = 0;
  mutable std::mutex seconds_mtx_;  // add_paused comes from a training thread
  double seconds_ = 0;
};

/// The model's parameters, flattened in order, and back.
std::vector<float> flatten_parameters(torch::nn::Module& model);
void assign_parameters(torch::nn::Module& model, const std::vector<float>& values);

/// A hash of the values' bytes (FNV-1a, 64 bits): equal parameters, equal fingerprints.
uint64_t fingerprint_of(const std::vector<float>& values);

/// The DiLoCo outer step: momentum = mu * momentum + delta; params = start - lr * (delta + mu *
/// momentum) (Nesterov); returns the new parameters, which are the next start.
std::vector<float> nesterov_step(const std::vector<float>& start, std::vector<float>& momentum,
                                 const std::vector<float>& delta, double lr, double mu);

}  // namespace dmoe
