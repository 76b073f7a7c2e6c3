// Expert backends against plain LibTorch (server.backend): the registry, forward and backward
// equal a local twin's, optimizer steps match torch's own Adam and SGD, clipping, transformer
// row independence, accumulated updates equal merged batches, checkpoints restore parameters
// and optimizer state exactly and refuse files that do not fit. Request checks against schemas
// (server.request_check).
#define CAF_SUITE server.backend
#include <caf/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <limits>

#include <torch/csrc/autograd/autograd.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/output-archive.h>

#include "runtime/experts/builtin_experts.hpp"
#include "runtime/experts/request_check.hpp"
#include "tests/server/server_test_util.hpp"

using namespace dmoe;
using namespace dmoe::test;

namespace {

constexpr int64_t hidden = 16;
constexpr int64_t batch = 8;

optimizer_settings adam_settings() {
  optimizer_settings s;
  s.kind = optimizer_kind::adam;
  s.learning_rate = 1e-2;
  s.weight_decay = 0.01;
  s.clip_grad_norm = 1.0;
  return s;
}

optimizer_settings sgd_settings() {
  optimizer_settings s;
  s.kind = optimizer_kind::sgd;
  s.learning_rate = 0.05;
  s.momentum = 0.9;
  s.weight_decay = 0.001;
  s.clip_grad_norm = 0.5;
  return s;
}

/// Plain SGD at rate 0.1: no momentum, no weight decay, gradients clipped to `clip` (0: not).
optimizer_settings plain_sgd(double clip) {
  optimizer_settings s;
  s.kind = optimizer_kind::sgd;
  s.learning_rate = 0.1;
  s.momentum = 0;
  s.clip_grad_norm = clip;
  return s;
}

std::shared_ptr<expert_backend> make_backend(const std::string& type, optimizer_settings s,
                                             uint64_t seed, const std::string& id = "ffn.0.0") {
  auto b = expert_backend::create(id, type, hidden, s, seed);
  CAF_REQUIRE(b);
  return *b;
}

/// How far one backward of (x, g) moves the expert's parameters (L2 norm of the change).
double backward_step_norm(expert_backend& b, const torch::Tensor& x, const torch::Tensor& g) {
  std::vector<torch::Tensor> before;
  for (auto& p : b.module().parameters())
    before.push_back(p.clone());
  CAF_REQUIRE(b.backward({x}, {g}));
  double squared = 0;
  auto after = b.module().parameters();
  for (size_t i = 0; i < after.size(); ++i)
    squared += (after[i] - before[i]).pow(2).sum().item<double>();
  return std::sqrt(squared);
}

double max_param_diff(expert_module& a, expert_module& b) {
  auto pa = a.parameters();
  auto pb = b.parameters();
  double out = 0;
  for (size_t i = 0; i < pa.size(); ++i)
    out = std::max(out, max_abs_diff(pa[i], pb[i]));
  return out;
}

bool params_equal(expert_module& a, expert_module& b) {
  auto pa = a.parameters();
  auto pb = b.parameters();
  for (size_t i = 0; i < pa.size(); ++i)
    if (!torch::equal(pa[i], pb[i]))
      return false;
  return pa.size() == pb.size();
}

// A user-defined type for the registry test: y = 3 * Linear(x).
class scaled_linear : public expert_module {
public:
  explicit scaled_linear(int64_t h) : h_(h) {
    linear_ = register_module("linear", torch::nn::Linear(h, h));
  }
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& in) override {
    return {3 * linear_->forward(in.at(0))};
  }
  std::vector<tensor_schema> input_schema() const override {
    return {{torch::kFloat32, {-1, h_}}};
  }
  std::vector<tensor_schema> output_schema() const override {
    return input_schema();
  }

private:
  int64_t h_;
  torch::nn::Linear linear_{nullptr};
};

}  // namespace

CAF_TEST(the registry has the built - in types and takes user types) {
  auto types = expert_types();
  CAF_CHECK(std::count(types.begin(), types.end(), "ffn") == 1);
  CAF_CHECK(std::count(types.begin(), types.end(), "transformer") == 1);
  register_expert_type("scaled_linear", [](int64_t h) { return std::make_shared<scaled_linear>(h); });
  auto backend = expert_backend::create("mine.1", "scaled_linear", hidden, adam_settings(), 3);
  CAF_REQUIRE(backend);
  CAF_CHECK_EQUAL((*backend)->info().expert_type, "scaled_linear");
  auto x = torch::randn({batch, hidden});
  auto y = (*backend)->forward({x});
  CAF_REQUIRE(y);
  auto twin = *make_expert("scaled_linear", hidden, 3);
  CAF_CHECK_LESS_OR_EQUAL(max_abs_diff((*y)[0], twin->forward({x})[0]), 1e-6);
  auto unknown = make_expert("nope", hidden, 1);
  CAF_REQUIRE(!unknown);
  CAF_CHECK_EQUAL(code_of(unknown.error()), errc::invalid_argument);
  CAF_CHECK(describe(unknown.error()).find("ffn") != std::string::npos);  // lists known types
  register_expert_type("broken", [](int64_t) -> std::shared_ptr<expert_module> {
    throw std::runtime_error("no");
  });
  CAF_CHECK(!make_expert("broken", hidden, 1));
}

CAF_TEST(the same seed gives the same weights and another id other weights) {
  auto a = make_backend("ffn", adam_settings(), expert_seed(1, "ffn.0.0"));
  auto b = make_backend("ffn", adam_settings(), expert_seed(1, "ffn.0.0"));
  auto c = make_backend("ffn", adam_settings(), expert_seed(1, "ffn.0.1"));
  CAF_CHECK(params_equal(a->module(), b->module()));
  CAF_CHECK(!params_equal(a->module(), c->module()));
}

CAF_TEST(ffn layout and schema) {
  auto b = make_backend("ffn", adam_settings(), 1);
  auto& ffn = dynamic_cast<ffn_expert&>(b->module());
  size_t params = 0;
  for (auto& p : ffn.parameters())
    params += p.numel();
  // LayerNorm (2h) + Linear(h, 4h) (4h*h + 4h) + Linear(4h, h) (4h*h + h)
  CAF_CHECK_EQUAL(params, static_cast<size_t>(2 * hidden + 8 * hidden * hidden + 5 * hidden));
  CAF_REQUIRE_EQUAL(b->info().inputs.size(), 1u);
  CAF_CHECK_EQUAL(b->info().inputs[0].shape, (std::vector<int64_t>{-1, hidden}));
  CAF_CHECK(b->info().inputs[0].dtype == torch::kFloat32);
}

CAF_TEST(backward with adam equals local torch training step by step) {
  torch::manual_seed(11);
  auto backend = make_backend("ffn", adam_settings(), 99);
  local_training local{"ffn", adam_settings(), 99};
  for (int step = 0; step < 3; ++step) {
    auto x = torch::randn({batch, hidden});
    auto g = torch::randn({batch, hidden});
    auto grads = backend->backward({x}, {g});
    CAF_REQUIRE(grads);
    auto local_grad = local.step(x, g);
    CAF_CHECK_LESS_OR_EQUAL(max_abs_diff((*grads)[0], local_grad), 1e-6);
    CAF_CHECK_LESS_OR_EQUAL(max_param_diff(backend->module(), *local.module), 1e-6);
    auto y = backend->forward({x});
    CAF_CHECK_LESS_OR_EQUAL(max_abs_diff((*y)[0], local.module->forward({x})[0]), 1e-5);
  }
  CAF_CHECK_EQUAL(backend->updates(), 3u);
}

CAF_TEST(backward with sgd momentum and weight decay equals local torch training) {
  torch::manual_seed(12);
  auto backend = make_backend("ffn", sgd_settings(), 5);
  local_training local{"ffn", sgd_settings(), 5};
  auto before = backend->module().parameters()[2].clone();
  for (int step = 0; step < 3; ++step) {
    auto x = torch::randn({batch, hidden});
    auto g = torch::randn({batch, hidden});
    auto grads = backend->backward({x}, {g});
    CAF_REQUIRE(grads);
    CAF_CHECK_LESS_OR_EQUAL(max_abs_diff((*grads)[0], local.step(x, g)), 1e-6);
    CAF_CHECK_LESS_OR_EQUAL(max_param_diff(backend->module(), *local.module), 1e-6);
  }
  CAF_CHECK(!torch::equal(before, backend->module().parameters()[2]));
}

CAF_TEST(clipping bounds the update of plain sgd to learning rate times max norm) {
  auto s = plain_sgd(0.01);
  auto backend = make_backend("ffn", s, 4);
  auto x = torch::randn({batch, hidden});
  auto moved = backward_step_norm(*backend, x, 100 * torch::ones({batch, hidden}));
  CAF_CHECK_LESS_OR_EQUAL(std::abs(moved - s.learning_rate * s.clip_grad_norm), 1e-5);
}

CAF_TEST(a non finite gradient norm is refused with clipping and without) {
  for (double clip : {0.0, 1.0}) {
    auto backend = make_backend("ffn", plain_sgd(clip), 4);
    auto twin = make_backend("ffn", plain_sgd(clip), 4);
    auto x = torch::randn({batch, hidden});
    // finite on the wire, but the weight gradients it makes overflow float32
    auto huge = torch::full({batch, hidden}, std::numeric_limits<float>::max());
    auto result = backend->backward({x}, {huge});
    CAF_REQUIRE(!result);
    CAF_CHECK_EQUAL(code_of(result.error()), errc::non_finite);
    CAF_CHECK(params_equal(backend->module(), twin->module()));
    CAF_CHECK_EQUAL(backend->updates(), 0u);
    // the refused batch left nothing behind: the next update equals a fresh twin's
    auto g = torch::randn({batch, hidden});
    CAF_REQUIRE(backend->backward({x}, {g}));
    CAF_REQUIRE(twin->backward({x}, {g}));
    CAF_CHECK(params_equal(backend->module(), twin->module()));
  }
}

CAF_TEST(warmup_updates raises the rate linearly over the first updates) {
  auto s = plain_sgd(0);
  auto full = make_backend("ffn", s, 4);
  s.warmup_updates = 4;
  auto warm = make_backend("ffn", s, 4);
  CAF_CHECK_EQUAL(s.rate_after(0), 0.025);
  CAF_CHECK_EQUAL(s.rate_after(3), 0.1);
  CAF_CHECK_EQUAL(s.rate_after(100), 0.1);
  // Plain SGD from the same weights and batch: each warm-up step is (n + 1) / 4 of a full one.
  auto x = torch::randn({batch, hidden});
  auto g = torch::randn({batch, hidden});
  for (int n = 0; n < 5; ++n) {
    // both step from the warm backend's weights, so the gradients are equal
    for (size_t i = 0; i < full->module().parameters().size(); ++i) {
      torch::NoGradGuard no_grad;
      full->module().parameters()[i].copy_(warm->module().parameters()[i]);
    }
    auto full_step = backward_step_norm(*full, x, g);
    auto warm_step = backward_step_norm(*warm, x, g);
    auto expected = std::min(1.0, (n + 1) / 4.0);
    CAF_MESSAGE("update " << n << ": warm / full step " << warm_step / full_step);
    CAF_CHECK_LESS_OR_EQUAL(std::abs(warm_step / full_step - expected), 1e-4);
  }
}

CAF_TEST(accumulate_samples sums small batches into the update one merged batch makes) {
  auto s = adam_settings();
  s.accumulate_samples = 2 * batch - 1;  // the second batch of `batch` rows completes it
  auto summed = make_backend("ffn", s, 31);
  auto merged = make_backend("ffn", adam_settings(), 31);
  auto initial = make_backend("ffn", adam_settings(), 31);
  std::vector<torch::Tensor> xs, gs, input_grads;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 2; ++i) {
      xs.push_back(torch::randn({batch, hidden}));
      gs.push_back(torch::randn({batch, hidden}));
      auto grads = summed->backward({xs.back()}, {gs.back()});
      CAF_REQUIRE(grads);
      input_grads.push_back((*grads)[0]);
      if (i == 0) {
        // the first half waits: weights unchanged, its samples pending
        CAF_CHECK_EQUAL(summed->pending_samples(), static_cast<uint64_t>(batch));
        CAF_CHECK(round > 0 || params_equal(summed->module(), initial->module()));
      }
    }
    CAF_CHECK_EQUAL(summed->pending_samples(), 0u);
    CAF_CHECK_EQUAL(summed->updates(), static_cast<uint64_t>(round + 1));
    // the same two batches as one call to an expert stepping on every batch
    auto x = torch::cat({xs[2 * round], xs[2 * round + 1]});
    auto g = torch::cat({gs[2 * round], gs[2 * round + 1]});
    auto grads = merged->backward({x}, {g});
    CAF_REQUIRE(grads);
    auto halves = torch::cat({input_grads[2 * round], input_grads[2 * round + 1]});
    CAF_CHECK_LESS_OR_EQUAL(max_abs_diff((*grads)[0], halves), 1e-6);
    CAF_CHECK_LESS_OR_EQUAL(max_param_diff(summed->module(), merged->module()), 1e-6);
  }
  CAF_CHECK(!params_equal(summed->module(), initial->module()));
}

CAF_TEST(loading a checkpoint drops a partial sum of gradients) {
  temp_dir dir{"backend-accumulate"};
  auto path = (dir.path / "ffn.0.0.pt").string();
  auto s = adam_settings();
  s.accumulate_samples = 2 * batch;
  auto b = make_backend("ffn", s, 41);
  CAF_REQUIRE_EQUAL(b->save(path), caf::none);
  CAF_REQUIRE(b->backward({torch::randn({batch, hidden})}, {100 * torch::ones({batch, hidden})}));
  CAF_CHECK_EQUAL(b->pending_samples(), static_cast<uint64_t>(batch));
  CAF_REQUIRE_EQUAL(b->load(path), caf::none);
  CAF_CHECK_EQUAL(b->pending_samples(), 0u);
  // The next update holds only what came after the load: the same as a fresh twin's.
  auto twin = make_backend("ffn", s, 41);
  for (int i = 0; i < 2; ++i) {
    auto x = torch::randn({batch, hidden});
    auto g = torch::randn({batch, hidden});
    CAF_REQUIRE(b->backward({x}, {g}));
    CAF_REQUIRE(twin->backward({x}, {g}));
  }
  CAF_CHECK_EQUAL(b->updates(), 1u);
  CAF_CHECK_LESS_OR_EQUAL(max_param_diff(b->module(), twin->module()), 1e-6);
}

CAF_TEST(the transformer expert is row - wise and trains) {
  auto backend = make_backend("transformer", adam_settings(), 8, "tf.0");
  CAF_CHECK_EQUAL(backend->info().inputs[0].shape, (std::vector<int64_t>{-1, -1, hidden}));
  auto x = torch::randn({3, 5, hidden});
  auto merged = backend->forward({x});
  CAF_REQUIRE(merged);
  CAF_CHECK_EQUAL((*merged)[0].sizes(), x.sizes());
  for (int64_t i = 0; i < 3; ++i) {
    auto alone = backend->forward({x.narrow(0, i, 1)});
    CAF_CHECK_LESS_OR_EQUAL(max_abs_diff((*alone)[0], (*merged)[0].narrow(0, i, 1)), 1e-5);
  }
  local_training local{"transformer", adam_settings(), 8};
  auto g = torch::randn({3, 5, hidden});
  auto grads = backend->backward({x}, {g});
  CAF_REQUIRE(grads);
  CAF_CHECK_LESS_OR_EQUAL(max_abs_diff((*grads)[0], local.step(x, g)), 1e-5);
  CAF_CHECK_LESS_OR_EQUAL(max_param_diff(backend->module(), *local.module), 1e-6);
}

CAF_TEST(the causal transformer expert lets no token see a later one) {
  auto causal = make_backend("causal-transformer", adam_settings(), 8, "block.0");
  auto x = torch::randn({2, 6, hidden});
  auto changed = x.clone();
  changed.narrow(1, 4, 2).normal_();  // tokens 4 and 5 only
  auto before = causal->forward({x});
  auto after = causal->forward({changed});
  CAF_REQUIRE(before && after);
  // Tokens 0..3 do not change; tokens 4..5 do. The bidirectional block changes them all.
  CAF_CHECK_LESS_OR_EQUAL(max_abs_diff((*before)[0].narrow(1, 0, 4), (*after)[0].narrow(1, 0, 4)),
                          1e-6);
  CAF_CHECK_GREATER(max_abs_diff((*before)[0].narrow(1, 4, 2), (*after)[0].narrow(1, 4, 2)), 1e-3);
  auto open = make_backend("transformer", adam_settings(), 8, "tf.0");
  auto open_before = open->forward({x});
  auto open_after = open->forward({changed});
  CAF_REQUIRE(open_before && open_after);
  CAF_CHECK_GREATER(
    max_abs_diff((*open_before)[0].narrow(1, 0, 4), (*open_after)[0].narrow(1, 0, 4)), 1e-3);
}

CAF_TEST(a checkpoint restores parameters and adam state exactly) {
  temp_dir dir{"backend"};
  auto path = (dir.path / "ffn.0.0.pt").string();
  auto original = make_backend("ffn", adam_settings(), 21);
  for (int i = 0; i < 2; ++i)
    CAF_REQUIRE(original->backward({torch::randn({batch, hidden})}, {torch::randn({batch, hidden})}));
  CAF_REQUIRE_EQUAL(original->save(path), caf::none);
  CAF_CHECK(std::filesystem::exists(path));
  CAF_CHECK(!std::filesystem::exists(path + ".tmp"));
  auto restored = make_backend("ffn", adam_settings(), 777);  // other initial weights
  CAF_CHECK(!params_equal(original->module(), restored->module()));
  CAF_REQUIRE_EQUAL(restored->load(path), caf::none);
  CAF_CHECK(params_equal(original->module(), restored->module()));
  CAF_CHECK_EQUAL(restored->updates(), 2u);
  auto params = original->module().parameters();
  auto restored_params = restored->module().parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    auto key = [](const torch::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); };
    auto& a = static_cast<torch::optim::AdamParamState&>(*original->optimizer().state().at(key(params[i])));
    auto& b = static_cast<torch::optim::AdamParamState&>(
      *restored->optimizer().state().at(key(restored_params[i])));
    CAF_CHECK_EQUAL(a.step(), b.step());
    CAF_CHECK(torch::equal(a.exp_avg(), b.exp_avg()));
    CAF_CHECK(torch::equal(a.exp_avg_sq(), b.exp_avg_sq()));
  }
  // The same next step on both keeps them identical (Adam's moments and step count matter).
  auto x = torch::randn({batch, hidden});
  auto g = torch::randn({batch, hidden});
  CAF_REQUIRE(original->backward({x}, {g}));
  CAF_REQUIRE(restored->backward({x}, {g}));
  CAF_CHECK(params_equal(original->module(), restored->module()));
  // Saving again replaces the file atomically.
  CAF_REQUIRE_EQUAL(restored->save(path), caf::none);
  CAF_CHECK(!std::filesystem::exists(path + ".tmp"));
}

CAF_TEST(a sgd checkpoint restores the momentum buffers) {
  temp_dir dir{"backend-sgd"};
  auto path = (dir.path / "x.pt").string();
  auto original = make_backend("ffn", sgd_settings(), 1);
  CAF_REQUIRE(original->backward({torch::randn({batch, hidden})}, {torch::randn({batch, hidden})}));
  CAF_REQUIRE_EQUAL(original->save(path), caf::none);
  auto restored = make_backend("ffn", sgd_settings(), 2);
  CAF_REQUIRE_EQUAL(restored->load(path), caf::none);
  auto x = torch::randn({batch, hidden});
  auto g = torch::randn({batch, hidden});
  CAF_REQUIRE(original->backward({x}, {g}));
  CAF_REQUIRE(restored->backward({x}, {g}));
  CAF_CHECK(params_equal(original->module(), restored->module()));
}

CAF_TEST(checkpoints that do not fit are refused and change nothing) {
  temp_dir dir{"backend-bad"};
  auto ffn_path = (dir.path / "ffn.pt").string();
  auto tf_path = (dir.path / "tf.pt").string();
  auto garbage_path = (dir.path / "garbage.pt").string();
  CAF_REQUIRE_EQUAL(make_backend("ffn", adam_settings(), 1)->save(ffn_path), caf::none);
  CAF_REQUIRE_EQUAL(make_backend("transformer", adam_settings(), 1)->save(tf_path), caf::none);
  std::ofstream{garbage_path} << "not a checkpoint";
  auto target = make_backend("ffn", adam_settings(), 2);
  auto reference = make_backend("ffn", adam_settings(), 2);
  CAF_CHECK_EQUAL(code_of(target->load(tf_path)), errc::invalid_argument);
  CAF_CHECK_EQUAL(code_of(target->load(garbage_path)), errc::invalid_argument);
  CAF_CHECK_EQUAL(code_of(target->load((dir.path / "missing.pt").string())), errc::invalid_argument);
  auto sgd = make_backend("ffn", sgd_settings(), 2);
  CAF_CHECK_EQUAL(code_of(sgd->load(ffn_path)), errc::invalid_argument);  // adam state
  auto wider = expert_backend::create("ffn.0.0", "ffn", hidden * 2, adam_settings(), 2);
  CAF_REQUIRE(wider);
  CAF_CHECK_EQUAL(code_of((*wider)->load(ffn_path)), errc::invalid_argument);
  CAF_CHECK(params_equal(target->module(), reference->module()));
  CAF_CHECK_EQUAL(code_of(target->save((dir.path / "no/such/dir/x.pt").string())), errc::internal);
}

namespace {

/// Writes a checkpoint as expert_backend::save does, with `module`'s parameters and buffers and
/// `optimizer`'s state, so a test can put in what a healthy expert never saves.
void write_checkpoint(const std::string& path, expert_module& module,
                      torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive archive;
  archive.write("type", c10::IValue(std::string{"ffn"}));
  archive.write("optimizer_kind", c10::IValue(std::string{"adam"}));
  archive.write("updates", c10::IValue(int64_t{1}));
  for (const auto& p : module.named_parameters())
    archive.write("param/" + p.key(), p.value());
  for (const auto& b : module.named_buffers())
    archive.write("buffer/" + b.key(), b.value(), true);
  torch::serialize::OutputArchive optimizer_archive;
  optimizer.save(optimizer_archive);
  archive.write("optimizer", optimizer_archive);
  archive.save_to(path);
}

/// An Adam optimizer stepped once over stand-ins for `module`'s parameters: of the same
/// shapes, or one element longer each; with gradient `grad` everywhere.
std::unique_ptr<torch::optim::Adam> stepped_adam(expert_module& module, bool misshapen, float grad) {
  std::vector<torch::Tensor> stand_ins;
  for (const auto& p : module.parameters()) {
    auto t = misshapen ? torch::zeros({p.numel() + 1}) : torch::zeros_like(p);
    t.set_requires_grad(true);
    t.mutable_grad() = torch::full_like(t, grad);
    stand_ins.push_back(t);
  }
  auto adam = std::make_unique<torch::optim::Adam>(stand_ins, torch::optim::AdamOptions(1e-3));
  adam->step();
  return adam;
}

}  // namespace

CAF_TEST(checkpoints with non finite values or misshapen optimizer state are refused) {
  temp_dir dir{"backend-poisoned"};
  auto source = make_backend("ffn", adam_settings(), 3);
  auto path = [&](const char* name) { return (dir.path / name).string(); };
  write_checkpoint(path("healthy.pt"), source->module(), *stepped_adam(source->module(), false, 0.5f));
  write_checkpoint(path("misshapen.pt"), source->module(), *stepped_adam(source->module(), true, 0.5f));
  write_checkpoint(path("nan-moments.pt"), source->module(),
                   *stepped_adam(source->module(), false, std::numeric_limits<float>::quiet_NaN()));
  {
    torch::NoGradGuard no_grad;
    source->module().parameters()[0].view(-1)[0] = std::numeric_limits<float>::infinity();
  }
  CAF_REQUIRE_EQUAL(source->save(path("inf-weight.pt")), caf::none);
  auto target = make_backend("ffn", adam_settings(), 2);
  auto reference = make_backend("ffn", adam_settings(), 2);
  for (auto name : {"misshapen.pt", "nan-moments.pt", "inf-weight.pt"}) {
    auto err = target->load(path(name));
    CAF_MESSAGE(name << ": " << describe(err));
    CAF_CHECK_EQUAL(code_of(err), errc::invalid_argument);
  }
  CAF_CHECK(params_equal(target->module(), reference->module()));
  CAF_CHECK_EQUAL(target->load(path("healthy.pt")), caf::none);
  CAF_CHECK_EQUAL(target->updates(), 1u);
}

#undef CAF_SUITE
#define CAF_SUITE server.request_check

namespace {

expert_info ffn_info() {
  return {"ffn.0.0", "ffn", {{torch::kFloat32, {-1, hidden}}}, {{torch::kFloat32, {-1, hidden}}}};
}

expert_info transformer_info() {
  return {"tf.0", "transformer", {{torch::kFloat32, {-1, -1, hidden}}},
          {{torch::kFloat32, {-1, -1, hidden}}}};
}

std::string forward_code(const expert_info& info, std::vector<torch::Tensor> xs, size_t max = 64) {
  auto err = check_forward(info, xs, max);
  return err ? to_string(code_of(err)) : "ok";
}

std::string backward_code(const expert_info& info, std::vector<torch::Tensor> xs,
                          std::vector<torch::Tensor> gs) {
  auto err = check_backward(info, xs, gs, 64);
  return err ? to_string(code_of(err)) : "ok";
}

}  // namespace

CAF_TEST(a transformer call over max tokens is refused and the largest call is sized) {
  auto info = transformer_info();
  auto code = [&](int64_t tokens, size_t max_tokens) {
    auto err = check_forward(info, {torch::zeros({2, tokens, hidden})}, 64, max_tokens);
    return err ? to_string(code_of(err)) : "ok";
  };
  CAF_CHECK_EQUAL(code(128, 128), "ok");
  CAF_CHECK_EQUAL(code(129, 128), "limit_exceeded");
  CAF_CHECK_EQUAL(code(100000, 0), "ok");  // 0: no token limit
  auto x = torch::zeros({2, 129, hidden});
  auto err = check_backward(info, {x}, {x}, 64, 128);
  CAF_CHECK_NOT_EQUAL(describe(err).find("server.max-tokens"), std::string::npos);
  // A backward call of 64 samples: inputs and output gradients, float32.
  CAF_CHECK_EQUAL(max_call_tensor_bytes(ffn_info(), 64, 128), uint64_t{2 * 64 * hidden * 4});
  CAF_CHECK_EQUAL(max_call_tensor_bytes(info, 64, 128), uint64_t{2 * 64 * 128 * hidden * 4});
}

CAF_TEST(forward calls are checked against the schema) {
  auto info = ffn_info();
  CAF_CHECK_EQUAL(forward_code(info, {torch::zeros({4, hidden})}), "ok");
  CAF_CHECK_EQUAL(forward_code(info, {torch::zeros({4, hidden}, torch::kFloat64)}), "dtype_mismatch");
  CAF_CHECK_EQUAL(forward_code(info, {torch::zeros({4, hidden + 1})}), "shape_mismatch");
  CAF_CHECK_EQUAL(forward_code(info, {torch::zeros({hidden})}), "shape_mismatch");
  CAF_CHECK_EQUAL(forward_code(info, {torch::zeros({4, hidden, 1})}), "shape_mismatch");
  CAF_CHECK_EQUAL(forward_code(info, {}), "shape_mismatch");
  CAF_CHECK_EQUAL(forward_code(info, {torch::zeros({4, hidden}), torch::zeros({4, hidden})}),
                  "shape_mismatch");
  CAF_CHECK_EQUAL(forward_code(info, {torch::zeros({0, hidden})}), "invalid_argument");
  CAF_CHECK_EQUAL(forward_code(info, {torch::zeros({65, hidden})}), "limit_exceeded");
  CAF_CHECK_EQUAL(forward_code(info, {torch::zeros({64, hidden})}), "ok");
  CAF_CHECK_EQUAL(forward_code(info, {torch::zeros({}, torch::kFloat32)}), "shape_mismatch");
}

CAF_TEST(backward gradients must match the outputs) {
  auto info = ffn_info();
  auto x = torch::zeros({4, hidden});
  CAF_CHECK_EQUAL(backward_code(info, {x}, {torch::zeros({4, hidden})}), "ok");
  CAF_CHECK_EQUAL(backward_code(info, {x}, {torch::zeros({3, hidden})}), "shape_mismatch");
  CAF_CHECK_EQUAL(backward_code(info, {x}, {torch::zeros({4, 2})}), "shape_mismatch");
  CAF_CHECK_EQUAL(backward_code(info, {x}, {}), "shape_mismatch");
  CAF_CHECK_EQUAL(backward_code(info, {x}, {torch::zeros({4, hidden}, torch::kFloat16)}),
                  "dtype_mismatch");
  auto tf = transformer_info();
  auto seq = torch::zeros({2, 5, hidden});
  CAF_CHECK_EQUAL(backward_code(tf, {seq}, {torch::zeros({2, 5, hidden})}), "ok");
  CAF_CHECK_EQUAL(backward_code(tf, {seq}, {torch::zeros({2, 6, hidden})}), "shape_mismatch");
}

CAF_TEST(merge keys separate different token counts) {
  auto a = merge_key({torch::zeros({2, 5, hidden})});
  auto b = merge_key({torch::zeros({7, 5, hidden})});
  auto c = merge_key({torch::zeros({2, 6, hidden})});
  CAF_CHECK_EQUAL(a, b);
  CAF_CHECK_NOT_EQUAL(a, c);
  CAF_CHECK_EQUAL(batch_size_of({torch::zeros({7, 5, hidden})}), 7);
}
