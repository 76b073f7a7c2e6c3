// The trainer's shared parameters (actors/trainer/shared_parameters.hpp) without any network:
// one worker trains exactly like plain Adam; with replicas, staleness counts the updates other
// workers applied in between, and threaded workers never exceed workers - 1.
#define CAF_SUITE trainer.shared_parameters
#include <caf/test/unit_test.hpp>

#include <atomic>
#include <sstream>
#include <thread>

#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>
#include <torch/types.h>

#include "actors/trainer/shared_parameters.hpp"

using namespace dmoe;

namespace {

torch::nn::Linear make_linear() {
  return torch::nn::Linear(8, 2);
}

torch::Tensor loss_of(torch::nn::Linear& m, const torch::Tensor& x, const torch::Tensor& y) {
  return (m->forward(x) - y).pow(2).mean();
}

shared_parameters::schedule constant(double lr) {
  return [lr](uint64_t) { return lr; };
}

}  // namespace

CAF_TEST(one worker on the model itself is plain Adam) {
  torch::manual_seed(1);
  auto a = make_linear();
  torch::manual_seed(1);
  auto b = make_linear();
  torch::optim::Adam plain{b->parameters(), torch::optim::AdamOptions(0.01)};
  shared_parameters shared{a.ptr(), constant(0.01), {0}};
  auto x = torch::randn({16, 8});
  auto y = torch::randn({16, 2});
  for (int step = 0; step < 20; ++step) {
    auto version = shared.read(*a);
    loss_of(a, x, y).backward();
    auto u = shared.apply(*a, version);
    CAF_CHECK_EQUAL(u.staleness, 0u);
    CAF_CHECK_EQUAL(u.version, static_cast<uint64_t>(step + 1));
    plain.zero_grad();
    loss_of(b, x, y).backward();
    plain.step();
  }
  CAF_CHECK(torch::equal(a->weight, b->weight));
  CAF_CHECK(torch::equal(a->bias, b->bias));
}

CAF_TEST(staleness counts the updates applied since a replica read the parameters) {
  torch::manual_seed(2);
  auto model = make_linear();
  auto r1 = make_linear();
  auto r2 = make_linear();
  shared_parameters shared{model.ptr(), constant(0.1), {1}};
  auto x = torch::randn({4, 8});
  auto y = torch::randn({4, 2});
  auto v1 = shared.read(*r1);
  auto v2 = shared.read(*r2);
  CAF_CHECK(torch::equal(r1->weight, model->weight));
  CAF_CHECK(torch::equal(r2->weight, model->weight));
  loss_of(r1, x, y).backward();
  loss_of(r2, x, y).backward();
  auto before = model->weight.clone();
  auto first = shared.apply(*r1, v1);
  CAF_CHECK_EQUAL(first.staleness, 0u);
  CAF_CHECK(!torch::equal(model->weight, before));  // the replica's gradient moved the model
  auto second = shared.apply(*r2, v2);
  CAF_CHECK_EQUAL(second.staleness, 1u);  // r2's gradient came from parameters r1 has moved
  CAF_CHECK_EQUAL(second.version, 2u);
  // Reading again brings a replica up to date and clears its gradient.
  shared.read(*r1);
  CAF_CHECK(torch::equal(r1->weight, model->weight));
  CAF_CHECK(!r1->weight.grad().defined());
  // A gradient staler than the bound (1 here) is dropped: the model does not move.
  auto v3 = shared.read(*r2);
  loss_of(r2, x, y).backward();
  for (int i = 0; i < 2; ++i) {
    auto v = shared.read(*r1);
    loss_of(r1, x, y).backward();
    CAF_CHECK(shared.apply(*r1, v).applied);
  }
  auto kept = model->weight.clone();
  auto dropped = shared.apply(*r2, v3);
  CAF_CHECK(!dropped.applied);
  CAF_CHECK_EQUAL(dropped.staleness, 2u);
  CAF_CHECK_EQUAL(dropped.version, 4u);
  CAF_CHECK(torch::equal(model->weight, kept));
}

CAF_TEST(threaded workers never apply a gradient staler than the bound and still learn) {
  constexpr size_t workers = 4;
  constexpr int steps_each = 60;
  torch::manual_seed(3);
  auto model = make_linear();
  shared_parameters shared{model.ptr(), constant(0.05), {workers}};
  auto x = torch::randn({64, 8});
  auto w_true = torch::randn({8, 2});
  auto y = x.mm(w_true);
  double initial = 0;
  {
    torch::NoGradGuard no_grad;
    initial = loss_of(model, x, y).item<double>();
  }
  std::atomic<uint64_t> max_staleness{0};  // of the applied updates
  std::atomic<uint64_t> stale_updates{0};
  std::atomic<uint64_t> dropped{0};
  std::vector<torch::nn::Linear> replicas;
  for (size_t w = 0; w < workers; ++w)
    replicas.push_back(make_linear());
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w)
    threads.emplace_back([&, w] {
      for (int i = 0; i < steps_each; ++i) {
        auto version = shared.read(*replicas[w]);
        loss_of(replicas[w], x, y).backward();
        std::this_thread::yield();
        auto u = shared.apply(*replicas[w], version);
        if (!u.applied) {
          CAF_CHECK_GREATER(u.staleness, workers);
          ++dropped;
          continue;
        }
        auto seen = max_staleness.load();
        while (u.staleness > seen && !max_staleness.compare_exchange_weak(seen, u.staleness)) {
        }
        if (u.staleness > 0)
          ++stale_updates;
      }
    });
  for (auto& t : threads)
    t.join();
  double final_loss = 0;
  {
    torch::NoGradGuard no_grad;
    final_loss = loss_of(model, x, y).item<double>();
  }
  CAF_MESSAGE("loss " << initial << " -> " << final_loss << ", max staleness "
                      << max_staleness.load() << ", " << stale_updates.load() << " of "
                      << workers * steps_each << " updates stale, " << dropped.load()
                      << " dropped");
  CAF_CHECK_LESS_OR_EQUAL(max_staleness.load(), workers);
  CAF_CHECK_GREATER(stale_updates.load(), 0u);  // the workers did overlap
  CAF_CHECK_LESS(final_loss, 0.5 * initial);
}

CAF_TEST(divide_stale divides an update rate by its staleness) {
  // Two models from the same weights, three replicas each reading version 0: updates of
  // staleness 0, 1 and 2, with and without dividing; only the last differs, by half its step.
  auto x = torch::randn({16, 8});
  auto y = torch::randn({16, 2});
  std::vector<torch::Tensor> steps;
  for (bool divide : {false, true}) {
    torch::manual_seed(3);
    auto model = make_linear();
    shared_parameters shared{model.ptr(), constant(0.01), {8, divide}};
    std::vector<torch::nn::Linear> replicas{make_linear(), make_linear(), make_linear()};
    std::vector<uint64_t> versions;
    for (auto& r : replicas) {
      versions.push_back(shared.read(*r));
      loss_of(r, x, y).backward();
    }
    torch::Tensor before;
    for (size_t i = 0; i < replicas.size(); ++i) {
      before = model->weight.detach().clone();
      auto u = shared.apply(*replicas[i], versions[i]);
      CAF_CHECK_EQUAL(u.staleness, i);
    }
    steps.push_back(model->weight.detach() - before);
  }
  auto ratio = (steps[1].norm() / steps[0].norm()).item<double>();
  CAF_MESSAGE("last step divided / full: " << ratio);
  CAF_CHECK_LESS_OR_EQUAL(std::abs(ratio - 0.5), 1e-5);
}

CAF_TEST(accumulate averages that many gradients into one Adam step) {
  // Three replicas read version 0 and compute gradients on three batches; with accumulate 3 the
  // model moves once, exactly as plain Adam on the mean gradient (the three batches' mean loss).
  auto xs = torch::randn({3, 16, 8});
  auto ys = torch::randn({3, 16, 2});
  torch::manual_seed(4);
  auto model = make_linear();
  torch::manual_seed(4);
  auto plain_model = make_linear();
  torch::optim::Adam plain{plain_model->parameters(), torch::optim::AdamOptions(0.01)};
  shared_parameters shared{model.ptr(), constant(0.01), {8, false, 3}};
  std::vector<torch::nn::Linear> replicas{make_linear(), make_linear(), make_linear()};
  std::vector<uint64_t> versions;
  for (int64_t i = 0; i < 3; ++i) {
    versions.push_back(shared.read(*replicas[i]));
    loss_of(replicas[i], xs[i], ys[i]).backward();
  }
  auto before = model->weight.detach().clone();
  for (size_t i = 0; i < 3; ++i) {
    auto u = shared.apply(*replicas[i], versions[i]);
    CAF_CHECK(u.applied);
    CAF_CHECK_EQUAL(u.staleness, 0u);  // no step was taken before the third
    CAF_CHECK_EQUAL(u.gradients, i + 1);
    CAF_CHECK_EQUAL(u.stepped, i == 2);
    CAF_CHECK_EQUAL(u.version, i == 2 ? 1u : 0u);
    if (i < 2)
      CAF_CHECK(torch::equal(model->weight, before));
  }
  plain.zero_grad();
  loss_of(plain_model, xs.reshape({48, 8}), ys.reshape({48, 2})).backward();
  plain.step();
  CAF_CHECK(torch::allclose(model->weight, plain_model->weight, 1e-5, 1e-7));
  CAF_CHECK(torch::allclose(model->bias, plain_model->bias, 1e-5, 1e-7));
  CAF_CHECK(!torch::equal(model->weight, before));
}

CAF_TEST(accumulating as many gradients as workers keeps a round of workers fresh) {
  // Four workers in lock-step rounds (all read, then all apply): one step per batch makes the
  // last of each round 3 steps stale; one step per round keeps every gradient at staleness 0.
  auto x = torch::randn({16, 8});
  auto y = torch::randn({16, 2});
  for (uint64_t accumulate : {1u, 4u}) {
    auto model = make_linear();
    shared_parameters shared{model.ptr(), constant(0.01), {8, false, accumulate}};
    std::vector<torch::nn::Linear> replicas{make_linear(), make_linear(), make_linear(),
                                            make_linear()};
    uint64_t max_staleness = 0;
    for (int round = 0; round < 3; ++round) {
      std::vector<uint64_t> versions;
      for (auto& r : replicas) {
        versions.push_back(shared.read(*r));
        loss_of(r, x, y).backward();
      }
      for (size_t i = 0; i < replicas.size(); ++i)
        max_staleness = std::max(max_staleness, shared.apply(*replicas[i], versions[i]).staleness);
    }
    CAF_CHECK_EQUAL(shared.gradients(), 12u);
    CAF_CHECK_EQUAL(max_staleness, accumulate == 1 ? 3u : 0u);
  }
}

CAF_TEST(a checkpoint keeps the batches applied and the optimizer steps apart) {
  auto x = torch::randn({16, 8});
  auto y = torch::randn({16, 2});
  auto model = make_linear();
  shared_parameters shared{model.ptr(), constant(0.01), {8, false, 2}};
  shared_parameters::update last;
  for (int i = 0; i < 5; ++i) {
    auto v = shared.read(*model);
    loss_of(model, x, y).backward();
    last = shared.apply(*model, v);
  }
  CAF_CHECK_EQUAL(last.gradients, 5u);
  CAF_CHECK_EQUAL(last.version, 2u);
  torch::serialize::OutputArchive out;
  shared.save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  auto copy = make_linear();
  shared_parameters restored{copy.ptr(), constant(0.01), {8, false, 2}};
  torch::serialize::InputArchive in;
  std::istringstream source{bytes.str()};
  in.load_from(source);
  restored.load(in);
  CAF_CHECK_EQUAL(restored.gradients(), 5u);
  CAF_CHECK(torch::equal(copy->weight, model->weight));
  // The fifth gradient's half-sum is not in the checkpoint: two more make the third step.
  for (int i = 0; i < 2; ++i) {
    auto v = restored.read(*copy);
    CAF_CHECK_EQUAL(v, 2u);
    loss_of(copy, x, y).backward();
    last = restored.apply(*copy, v);
  }
  CAF_CHECK_EQUAL(last.gradients, 7u);
  CAF_CHECK_EQUAL(last.version, 3u);
  CAF_CHECK(last.stepped);
}

CAF_TEST(flush steps with a partial sum and only then) {
  auto x = torch::randn({16, 8});
  auto y = torch::randn({16, 2});
  auto model = make_linear();
  shared_parameters shared{model.ptr(), constant(0.01), {8, false, 3}};
  CAF_CHECK(!shared.flush());  // nothing summed yet
  for (int i = 0; i < 2; ++i) {
    auto v = shared.read(*model);
    loss_of(model, x, y).backward();
    CAF_CHECK(!shared.apply(*model, v).stepped);
  }
  auto before = model->weight.detach().clone();
  CAF_CHECK(shared.flush());
  CAF_CHECK(!torch::equal(model->weight, before));
  CAF_CHECK_EQUAL(shared.read(*model), 1u);  // one update taken
  CAF_CHECK(!shared.flush());                // and the sum is gone
  CAF_CHECK_EQUAL(shared.gradients(), 2u);
}
