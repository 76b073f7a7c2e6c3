#include "actors/server/server_experts.hpp"

#include <filesystem>
#include <fstream>
#include <set>
#include <utility>

#include "actors/server/server.hpp"
#include "messages/errors.hpp"
#include "messages/expert_pattern.hpp"
#include "runtime/experts/checkpoint_check.hpp"

namespace dmoe {

uint64_t server_seed(const server_options& options, const std::string& name) {
  return options.seed != 0 ? options.seed : stable_hash(name);
}

caf::expected<std::vector<std::string>> hosted_expert_ids(const server_options& options,
                                                          uint64_t seed) {
  auto ids = expand_expert_pattern(options.expert_pattern);
  if (!ids)
    return ids.error();
  return sample_expert_ids(*ids, options.num_experts, seed);
}

namespace {

/// MemAvailable of /proc/meminfo in bytes; 0 where it cannot be read.
uint64_t available_memory_bytes() {
  std::ifstream meminfo{"/proc/meminfo"};
  std::string name;
  uint64_t kib = 0;
  std::string unit;
  while (meminfo >> name >> kib >> unit)
    if (name == "MemAvailable:")
      return kib * 1024;
  return 0;
}

/// Refuses `experts` experts that would not fit in the memory available: each holds its
/// parameters, their gradients and Adam's two moments (four float32 copies), and kept
/// activations may take activation-memory-mb besides.
caf::error check_expert_memory(const server_options& options, size_t experts) {
  auto probe = make_expert(options.expert_type, options.hidden, 1);
  if (!probe)
    return probe.error();
  uint64_t parameters = 0;
  for (const auto& p : (*probe)->parameters())
    parameters += static_cast<uint64_t>(p.numel());
  auto need = parameters * 4 * sizeof(float) * experts + (options.activation_memory_mb << 20);
  auto available = available_memory_bytes();
  if (available == 0 || need <= available)
    return caf::none;
  auto gib = [](uint64_t bytes) { return std::to_string(bytes / double(1ull << 30)).substr(0, 5); };
  return make_error(errc::invalid_argument,
                    "'server.expert-pattern' gives " + std::to_string(experts) + " experts of type "
                      + options.expert_type + " at hidden " + std::to_string(options.hidden) + " ("
                      + std::to_string(parameters) + " parameters each): about " + gib(need)
                      + " GiB with gradients, Adam's moments and 'server.activation-memory-mb', "
                        "more than the "
                      + gib(available) + " GiB this machine has available; host fewer "
                        "('server.num-experts') or smaller experts");
}

}  // namespace

std::string checkpoint_path(const std::string& dir, const std::string& id) {
  return (std::filesystem::path{dir} / (id + ".pt")).string();
}

caf::expected<std::vector<hosted_expert>> build_hosted_experts(const server_options& options,
                                                               uint64_t seed) {
  auto ids = hosted_expert_ids(options, seed);
  if (!ids)
    return ids.error();
  if (auto err = check_expert_memory(options, ids->size()))
    return err;
  if (!options.checkpoint_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.checkpoint_dir, ec);
    if (ec)
      return make_error(errc::invalid_argument, "cannot create checkpoint directory '"
                                                  + options.checkpoint_dir + "': " + ec.message());
  }
  std::vector<hosted_expert> out;
  for (const auto& id : *ids) {
    auto backend = expert_backend::create(id, options.expert_type, options.hidden,
                                          optimizer_settings_of(options), expert_seed(seed, id),
                                          activation_settings_of(options, ids->size()));
    if (!backend)
      return backend.error();
    hosted_expert expert;
    expert.backend = std::move(*backend);
    if (!options.checkpoint_dir.empty()) {
      auto path = checkpoint_path(options.checkpoint_dir, id);
      if (std::filesystem::exists(path)) {
        if (auto err = expert.backend->load(path)) {
          // A failed load changed nothing: the expert starts fresh, the file is kept for a look.
          auto moved = move_aside(path);
          if (!moved)
            return make_error(errc::invalid_argument, describe(err) + "; moving it aside failed");
          expert.set_aside = describe(err) + "; moved to " + *moved + ", the expert starts fresh";
        } else {
          expert.restored = true;
        }
      }
    }
    out.push_back(std::move(expert));
  }
  return out;
}

}  // namespace dmoe
