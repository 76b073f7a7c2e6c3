#include "actors/trainer/outer_averaging.hpp"

#include <chrono>
#include <cstring>

#include <fmt/format.h>
#include <torch/torch.h>

#include "messages/errors.hpp"

namespace dmoe {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::vector<float> flatten_parameters(torch::nn::Module& model) {
  std::vector<float> out;
  torch::NoGradGuard no_grad;
  for (const auto& p : model.parameters()) {
    auto flat = p.detach().to(torch::kFloat32).contiguous().view({-1});
    out.insert(out.end(), flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel());
  }
  return out;
}

void assign_parameters(torch::nn::Module& model, const std::vector<float>& values) {
  torch::NoGradGuard no_grad;
  size_t at = 0;
  for (auto& p : model.parameters()) {
    auto n = static_cast<size_t>(p.numel());
    if (at + n > values.size())
      throw std::invalid_argument("fewer values than the model has parameters");
    auto src = torch::from_blob(const_cast<float*>(values.data() + at), {p.numel()}, torch::kFloat32);
    p.copy_(src.view(p.sizes()));
    at += n;
  }
  if (at != values.size())
    throw std::invalid_argument("more values than the model has parameters");
}

uint64_t fingerprint_of(const std::vector<float>& values) {
  uint64_t h = 1469598103934665603ull;
  const auto* bytes = reinterpret_cast<const unsigned char*>(values.data());
  for (size_t i = 0; i < values.size() * sizeof(float); ++i) {
    h ^= bytes[i];
    h *= 1099511628211ull;
  }
  return h;
}

std::vector<float> nesterov_step(const std::vector<float>& start, std::vector<float>& momentum,
                                 const std::vector<float>& delta, double lr, double mu) {
  std::vector<float> out(start.size());
  auto flr = static_cast<float>(lr);
  auto fmu = static_cast<float>(mu);
  for (size_t i = 0; i < start.size(); ++i) {
    momentum[i] = fmu * momentum[i] + delta[i];
    out[i] = start[i] - flr * (delta[i] + fmu * momentum[i]);
  }
  return out;
}

outer_averaging::outer_averaging(caf::actor_system& system, member_setup setup,
                                 torch::nn::Module& model, std::string signature,
                                 spdlog::logger& log)
  : member_(system, setup),
    options_(setup.options),
    signature_(std::move(signature)),
    log_(log),
    start_(flatten_parameters(model)),
    momentum_(start_.size(), 0.0f),
    fingerprint_(fingerprint_of(start_)) {
}

void outer_averaging::publish() {
  auto state = std::make_shared<averaging_state>();
  state->header = avg::state_header{options_.run, signature_, outer_step_, fingerprint_,
                                    start_.size()};
  state->values = start_;
  state->values.insert(state->values.end(), momentum_.begin(), momentum_.end());
  member_.publish(std::move(state));
}

void outer_averaging::adopt(torch::nn::Module& model, const averaging_state& state) {
  auto n = start_.size();
  start_.assign(state.values.begin(), state.values.begin() + static_cast<ptrdiff_t>(n));
  momentum_.assign(state.values.begin() + static_cast<ptrdiff_t>(n), state.values.end());
  outer_step_ = state.header.outer_step;
  fingerprint_ = fingerprint_of(start_);
  if (fingerprint_ != state.header.fingerprint)
    log_.warn("the downloaded parameters' fingerprint differs from the donor's claim");
  assign_parameters(model, start_);
  publish();
}

void outer_averaging::join(torch::nn::Module& model) {
  auto began = std::chrono::steady_clock::now();
  auto ahead = member_.most_advanced();
  // At outer step 0 every member still holds the run's common initialisation: nothing to fetch.
  if (options_.join_state && ahead && ahead->outer_step > 0) {
    auto state = member_.download_state(signature_, start_.size());
    if (state) {
      adopt(model, *state);
      log_.info("joined run '{}' at outer step {} with the swarm's shared parameters {:016x}",
                options_.run, outer_step_, fingerprint_);
    } else {
      log_.info("run '{}': {}; starting from its common initialisation", options_.run,
                message_of(state.error()));
    }
  }
  publish();
  add_paused(seconds_since(began));
}

bool outer_averaging::catch_up(const model_access& access, const avg::member& ahead) {
  log_.warn("the run is at outer step {}, this trainer at {}: downloading the state from {}",
            ahead.outer_step, outer_step_, ahead.endpoint);
  auto state = member_.download_state(signature_, start_.size(), ahead.endpoint);
  if (!state)
    state = member_.download_state(signature_, start_.size());
  if (!state) {
    log_.warn("could not catch up: {}", message_of(state.error()));
    return false;
  }
  access([&](torch::nn::Module& model) { adopt(model, *state); });
  return true;
}

bool outer_averaging::step(const model_access& access, double weight, bool overlapped) {
  auto began = std::chrono::steady_clock::now();
  double paused = 0;  // seconds the model was held (training waits meanwhile)
  auto hold = [&](const std::function<void(torch::nn::Module&)>& f) {
    auto t0 = std::chrono::steady_clock::now();
    access(f);
    paused += seconds_since(t0);
  };
  auto account = [&] { add_paused(overlapped ? paused : seconds_since(began)); };
  // Members declare their outer steps (averager.hpp). None but this one: nobody to average
  // with, no round to wait for. One ahead: rounds went on without this trainer, whose work
  // since is given up for the run's parameters.
  auto ahead = member_.most_advanced();
  if (!ahead) {
    if (!alone_)
      log_.info("no other trainer of run '{}' is declared: training alone until one is",
                options_.run);
    alone_ = true;
    account();
    return false;
  }
  alone_ = false;
  if (ahead->outer_step > outer_step_) {
    catch_up(hold, *ahead);
    account();
    return false;
  }
  // The pseudo-gradient is taken once the group has formed; training goes on during the
  // all-reduce, and what it adds after the snapshot is kept on top of the outer step.
  std::vector<float> snapshot;
  std::vector<float> delta;
  round_input in{outer_step_, fingerprint_, weight, start_.size(), [&] {
                   hold([&](torch::nn::Module& model) { snapshot = flatten_parameters(model); });
                   delta.resize(snapshot.size());
                   for (size_t i = 0; i < delta.size(); ++i)
                     delta[i] = start_[i] - snapshot[i];
                   return &delta;
                 }};
  round_failure failure;
  auto out = member_.average(in, &failure);
  if (!out) {
    ++failed_;
    if (!failure.donor.empty()) {
      log_.warn("outer step {}: {}; downloading the state from {}", outer_step_,
                message_of(failure.error), failure.donor);
      auto state = member_.download_state(signature_, start_.size(), failure.donor);
      if (state) {
        hold([&](torch::nn::Module& model) { adopt(model, *state); });
        account();
        return false;
      }
      log_.warn("the download failed: {}", message_of(state.error()));
    }
    log_.warn("outer step {} abandoned: {}; the parameters stay local", outer_step_,
              message_of(failure.error ? failure.error : out.error()));
    account();
    return false;
  }
  auto next = nesterov_step(start_, momentum_, out->average, options_.outer_learning_rate,
                            options_.outer_momentum);
  hold([&](torch::nn::Module& model) {
    auto now = flatten_parameters(model);
    for (size_t i = 0; i < now.size(); ++i)
      now[i] = next[i] + (now[i] - snapshot[i]);
    assign_parameters(model, now);
  });
  start_ = std::move(next);
  ++outer_step_;
  fingerprint_ = fingerprint_of(start_);
  averaged_with_ = out->survivors;
  megabytes_ += static_cast<double>(out->bytes_sent + out->bytes_received) / 1e6;
  publish();
  account();
  log_.info("outer step {}: averaged with {} of {} trainers ({:.0f} samples), {:.1f} MB sent, "
            "{:.1f} MB received, {:.1f} s ({:.2f} s paused); shared parameters {:016x}",
            outer_step_, out->survivors, out->members, out->weight,
            static_cast<double>(out->bytes_sent) / 1e6,
            static_cast<double>(out->bytes_received) / 1e6, seconds_since(began),
            overlapped ? paused : seconds_since(began), fingerprint_);
  return true;
}

void outer_averaging::settle(torch::nn::Module& model) {
  log_.warn("the last round failed: ending with the run's shared parameters of outer step {} "
            "({:016x}); what this trainer trained since is dropped",
            outer_step_, fingerprint_);
  assign_parameters(model, start_);
}

void outer_averaging::report(trainer_metrics& m) const {
  m.outer_steps = outer_step_;
  m.failed_rounds = failed_;
  m.averaged_with = averaged_with_;
  m.averaging_mb = megabytes_;
  {
    std::lock_guard<std::mutex> guard{seconds_mtx_};
    m.averaging_s = seconds_;
  }
  m.shared_fingerprint = fmt::format("{:016x}", fingerprint_);
}

}  // namespace dmoe
