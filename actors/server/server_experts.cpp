#include "actors/server/server_experts.hpp"

#include <filesystem>
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

std::string checkpoint_path(const std::string& dir, const std::string& id) {
  return (std::filesystem::path{dir} / (id + ".pt")).string();
}

caf::expected<std::vector<hosted_expert>> build_hosted_experts(const server_options& options,
                                                               uint64_t seed) {
  auto ids = hosted_expert_ids(options, seed);
  if (!ids)
    return ids.error();
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

std::vector<declaration_entry> server_declarations(const std::vector<std::string>& ids,
                                                   const std::string& endpoint) {
  std::vector<declaration_entry> out;
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& id : ids)
    for (auto& entry : declaration_entries(id, endpoint))
      if (seen.emplace(entry.key, entry.label).second)
        out.push_back(std::move(entry));
  return out;
}

}  // namespace dmoe
