#include "actors/trainer/trainer_checkpoint.hpp"

#include <filesystem>
#include <sstream>

#include <torch/serialize.h>

#include "messages/errors.hpp"

namespace dmoe {

namespace {

namespace fs = std::filesystem;

void write_count(torch::serialize::OutputArchive& archive, const std::string& key, uint64_t x) {
  archive.write(key, torch::tensor(static_cast<int64_t>(x)));
}

void write_real(torch::serialize::OutputArchive& archive, const std::string& key, double x) {
  archive.write(key, torch::tensor(x, torch::kFloat64));
}

uint64_t read_count(torch::serialize::InputArchive& archive, const std::string& key) {
  torch::Tensor t;
  archive.read(key, t);
  auto x = t.item<int64_t>();
  TORCH_CHECK(x >= 0, "negative '", key, "' in the checkpoint");
  return static_cast<uint64_t>(x);
}

double read_real(torch::serialize::InputArchive& archive, const std::string& key) {
  torch::Tensor t;
  archive.read(key, t);
  return t.item<double>();
}

/// LibTorch's errors without the backtrace they carry.
std::string reason(const std::exception& e) {
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&e))
    return torch_error->what_without_backtrace();
  return e.what();
}

void write_tags(torch::serialize::OutputArchive& archive, const model_tags& tags) {
  std::string text;
  for (const auto& [key, value] : tags)
    text += key + "=" + value + "\n";
  archive.write("tags", c10::IValue(text));
}

model_tags read_tags(torch::serialize::InputArchive& archive) {
  c10::IValue value;
  model_tags out;
  if (!archive.try_read("tags", value) || !value.isString())
    return out;  // written before tags were: a Fashion-MNIST classifier
  std::string line;
  std::istringstream in{value.toStringRef()};
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos)
      out.emplace_back(line.substr(0, eq), line.substr(eq + 1));
  }
  return out;
}

/// The first tag of `wanted` the checkpoint's `found` disagrees with; empty when none.
std::string tag_difference(const model_tags& found, const model_tags& wanted) {
  for (const auto& [key, value] : wanted) {
    std::string seen = "(none)";
    for (const auto& [k, v] : found)
      if (k == key)
        seen = v;
    if (key == "tokenizer_path")
      continue;  // where the cache is may differ; the fingerprint decides
    if (seen != value && !(found.empty() && key == "task" && value == "fashion-mnist"))
      return key + " is " + seen + " there, " + value + " here";
  }
  return {};
}

/// Loads DIR/trainer.pt into the shared parameters, `data` and `progress`: true when there
/// was one, false when there is none (a first start), an error when it cannot be read or does
/// not fit this model.
caf::expected<bool> load_trainer_checkpoint(const std::string& dir, shared_parameters& shared,
                                            batch_source::position& data,
                                            trainer_progress& progress, const model_tags& tags) {
  auto path = trainer_checkpoint_path(dir);
  std::error_code ec;
  if (!fs::exists(path, ec))
    return false;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    if (auto difference = tag_difference(read_tags(archive), tags); !difference.empty())
      return make_error(errc::invalid_argument, "the trainer checkpoint " + path
                                                  + " holds another model (" + difference
                                                  + "); delete it or point trainer.checkpoint-dir "
                                                    "elsewhere");
    shared.load(archive);
    data.epoch = read_count(archive, "data_epoch");
    data.begin = static_cast<int64_t>(read_count(archive, "data_begin"));
    torch::Tensor order;
    if (archive.try_read("data_order", order))
      data.order = order;
    progress.step = shared.gradients();
    progress.epoch = read_count(archive, "epoch");
    progress.samples = read_count(archive, "samples");
    torch::Tensor tokens;
    if (archive.try_read("tokens", tokens))
      progress.tokens = static_cast<uint64_t>(tokens.item<int64_t>());
    progress.failed_steps = read_count(archive, "failed_steps");
    progress.failed_evals = read_count(archive, "failed_evals");
    progress.elapsed_s = read_real(archive, "elapsed_s");
    progress.eval_s = read_real(archive, "eval_s");
    progress.held_out = read_real(archive, "held_out");
  } catch (const std::exception& e) {
    return make_error(errc::invalid_argument, "cannot resume from the trainer checkpoint " + path
                                                + " (delete it to start afresh): " + reason(e));
  }
  return true;
}

}  // namespace

std::string trainer_checkpoint_path(const std::string& dir) {
  return (fs::path{dir} / "trainer.pt").string();
}

caf::error save_trainer_checkpoint(const std::string& dir, shared_parameters& shared,
                                   const batch_source::position& data,
                                   const trainer_progress& progress, const model_tags& tags) {
  auto path = trainer_checkpoint_path(dir);
  auto partial = path + ".partial";
  try {
    fs::create_directories(dir);
    torch::serialize::OutputArchive archive;
    shared.save(archive);
    write_count(archive, "data_epoch", data.epoch);
    write_count(archive, "data_begin", static_cast<uint64_t>(data.begin));
    if (data.order.defined())
      archive.write("data_order", data.order);
    write_count(archive, "epoch", progress.epoch);
    write_count(archive, "samples", progress.samples);
    write_count(archive, "tokens", progress.tokens);
    write_tags(archive, tags);
    write_count(archive, "failed_steps", progress.failed_steps);
    write_count(archive, "failed_evals", progress.failed_evals);
    write_real(archive, "elapsed_s", progress.elapsed_s);
    write_real(archive, "eval_s", progress.eval_s);
    write_real(archive, "held_out", progress.held_out);
    archive.save_to(partial);
    fs::rename(partial, path);
  } catch (const std::exception& e) {
    std::error_code ignored;
    fs::remove(partial, ignored);
    return make_error(errc::internal, "cannot write the trainer checkpoint " + path + ": "
                                        + reason(e));
  }
  return {};
}

caf::expected<trainer_progress> resume_from_checkpoint(const std::string& dir,
                                                       shared_parameters& shared,
                                                       batch_source& batches,
                                                       const model_tags& tags) {
  trainer_progress progress;
  batch_source::position data;
  auto found = load_trainer_checkpoint(dir, shared, data, progress, tags);
  if (!found)
    return found.error();
  if (!*found)
    return trainer_progress{};
  if (!batches.resume(data))
    return make_error(errc::invalid_argument, "the trainer checkpoint "
                                                + trainer_checkpoint_path(dir)
                                                + " holds a position in another data set");
  return progress;
}

caf::expected<model_tags> read_checkpoint_tags(const std::string& path) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    return read_tags(archive);
  } catch (const std::exception& e) {
    return make_error(errc::invalid_argument, "cannot read the checkpoint " + path + ": " + reason(e));
  }
}

caf::error load_checkpoint_parameters(const std::string& path, torch::nn::Module& model) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    torch::serialize::InputArchive parameters;
    archive.read("model", parameters);
    std::vector<std::vector<int64_t>> shapes;
    for (const auto& p : model.parameters())
      shapes.push_back(p.sizes().vec());
    model.load(parameters);
    auto loaded = model.parameters();
    for (size_t i = 0; i < loaded.size(); ++i)
      if (loaded[i].sizes().vec() != shapes.at(i))
        return make_error(errc::invalid_argument, "the checkpoint " + path
                                                    + " holds parameters of another shape");
    return caf::none;
  } catch (const std::exception& e) {
    return make_error(errc::invalid_argument, "cannot load the model from " + path + ": " + reason(e));
  }
}

}  // namespace dmoe
