// trainer.task = fashion-mnist: the DMoE classifier (model.hpp) on Fashion-MNIST.
#include <torch/nn/functional/loss.h>

#include "actors/trainer/evaluation.hpp"
#include "actors/trainer/model.hpp"
#include "actors/trainer/tasks.hpp"
#include "runtime/data/fashion_mnist.hpp"

namespace dmoe {

namespace {

struct image_tensors {
  torch::Tensor images;  // [N, 784] float
  torch::Tensor labels;  // [N] int64
};

caf::expected<image_tensors> load_images(const std::string& dir, std::string_view split) {
  auto set = data::load_fashion_mnist(dir, split);
  if (!set)
    return set.error();
  auto n = static_cast<int64_t>(set->count);
  auto d = static_cast<int64_t>(set->image_size());
  return image_tensors{torch::from_blob(set->pixels.data(), {n, d}, torch::kFloat32).clone(),
                       torch::from_blob(set->labels.data(), {n}, torch::kInt64).clone()};
}

class classifier_task : public training_task {
public:
  classifier_task(caf::actor_system& system, moe::router_actor router, trainer_options options,
                  moe_options moe, image_tensors train, image_tensors test)
    : system_(system),
      router_(std::move(router)),
      options_(std::move(options)),
      moe_(std::move(moe)),
      train_(std::move(train)),
      test_(std::move(test)) {
  }

  std::string description() const override {
    auto model = options_.model == model_kind::dmoe
                   ? std::string{"a DMoE classifier"}
                   : fmt::format("the {} baseline (inner width {})", name_of(options_.model),
                                 dense_width());
    return fmt::format("{} on Fashion-MNIST: {} train / {} test images", model, examples(),
                       test_.images.size(0));
  }

  int64_t examples() const override {
    return train_.images.size(0);
  }

  std::shared_ptr<torch::nn::Module> make_model() override {
    return DMoEClassifier{system_, router_, options_, moe_, train_.images.size(1),
                          data::fashion_mnist_classes}
      .ptr();
  }

  step_outcome step(torch::nn::Module& model, const torch::Tensor& indices) override {
    auto& classifier = dynamic_cast<DMoEClassifierImpl&>(model);
    auto labels = train_.labels.index_select(0, indices);
    auto logits = classifier.forward(train_.images.index_select(0, indices));
    step_outcome out;
    out.loss = torch::nn::functional::cross_entropy(logits, labels);
    out.loss_value = out.loss.item<double>();
    out.accuracy = logits.argmax(1).eq(labels).to(torch::kFloat32).mean().item<double>();
    out.examples = indices.size(0);
    return out;
  }

  held_out_kind held_out() const override {
    return held_out_kind::accuracy;
  }

  std::optional<double> evaluate(torch::nn::Module& model, held_out_split, size_t limit,
                                 const std::atomic<bool>& stop, spdlog::logger& log) override {
    auto& classifier = dynamic_cast<DMoEClassifierImpl&>(model);
    return test_accuracy(classifier, test_.images, test_.labels, limit, stop, log);
  }

  model_tags tags() const override {
    return {{"task", "fashion-mnist"}, {"model", std::string{name_of(options_.model)}}};
  }

  bool computes_locally() const override {
    return options_.model != model_kind::dmoe;
  }

private:
  int64_t dense_width() const {
    return dense_ffn_width(options_.model, options_.hidden, moe_);
  }

  caf::actor_system& system_;
  moe::router_actor router_;
  trainer_options options_;
  moe_options moe_;
  image_tensors train_;
  image_tensors test_;
};

}  // namespace

caf::expected<std::unique_ptr<training_task>>
make_classifier_task(caf::actor_system& system, moe::router_actor router,
                     const trainer_options& options, const moe_options& moe) {
  auto train = load_images(options.data_dir, "train");
  if (!train)
    return make_error(errc::not_found, "cannot load Fashion-MNIST from '" + options.data_dir
                                         + "': " + describe(train.error()));
  auto test = load_images(options.data_dir, "test");
  if (!test)
    return make_error(errc::not_found, "cannot load Fashion-MNIST from '" + options.data_dir
                                         + "': " + describe(test.error()));
  return std::unique_ptr<training_task>{new classifier_task(system, std::move(router), options,
                                                            moe, std::move(*train),
                                                            std::move(*test))};
}

}  // namespace dmoe
