// Building a server's experts from its options: which ids, their seeds, their backends, and
// their checkpoints. Blocking (LibTorch init and file reads); runs before the server starts.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "actors/server/expert_counters.hpp"
#include "runtime/experts/expert_backend.hpp"
#include "messages/declaration.hpp"
#include "messages/expert_id.hpp"
#include "runtime/options.hpp"

namespace dmoe {

struct hosted_expert {
  std::shared_ptr<expert_backend> backend;
  std::shared_ptr<expert_counters> counters = std::make_shared<expert_counters>();
  bool restored = false;  // loaded from a checkpoint
  std::string set_aside;  // why its checkpoint was unusable and where it went, if so
};

/// The server seed: options.seed, or a hash of `name` when it is 0.
uint64_t server_seed(const server_options& options, const std::string& name);

/// The ids a server with these options hosts (the pattern, or a sample of it by `seed`).
caf::expected<std::vector<std::string>> hosted_expert_ids(const server_options& options,
                                                          uint64_t seed);

/// Builds every hosted expert and loads its checkpoint when options.checkpoint_dir holds one
/// (creating the directory when missing). A checkpoint that does not load is renamed to
/// `ID.pt.bad[.N]` and its expert starts fresh (hosted_expert::set_aside says why); an error
/// only when such a file cannot be moved.
caf::expected<std::vector<hosted_expert>> build_hosted_experts(const server_options& options,
                                                               uint64_t seed);

}  // namespace dmoe
