// Which experts a server hosts: a grid pattern expanded into expert ids, an optional seeded
// sample of them, and each expert's deterministic initialization seed. Pure; no LibTorch.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace dmoe {

/// The most ids one pattern may expand to; a typo such as "[0:100000000]" is an error, not OOM.
constexpr size_t max_pattern_ids = 1 << 20;

/// Expands `name.c1.c2...` where each coordinate is a number ("3") or a half-open range
/// ("[0:4]" = 0, 1, 2, 3), row-major: "ffn.[0:2].[5:7]" -> ffn.0.5 ffn.0.6 ffn.1.5 ffn.1.6.
/// Several patterns separated by commas ("ffn.0.[0:4],ffn-1.0.[0:4]", e.g. a row of each
/// layer's grid) give their ids in turn, each once. Every produced id passes is_valid_expert_id.
caf::expected<std::vector<std::string>> expand_expert_pattern(const std::string& pattern);

/// `count` of `ids` chosen uniformly by `seed` (the same on every platform), in their original
/// order. count == 0 or count == ids.size() returns all ids; count > ids.size() is an error.
caf::expected<std::vector<std::string>> sample_expert_ids(const std::vector<std::string>& ids,
                                                          size_t count, uint64_t seed);

/// The seed an expert's weights are initialized from: a hash of the server seed and the id, so
/// a test (or a replica) rebuilds the same weights from the same two values.
uint64_t expert_seed(uint64_t server_seed, std::string_view expert_id);

/// A stable 64-bit hash of text (FNV-1a), e.g. to derive a server seed from a node name.
uint64_t stable_hash(std::string_view text);

}  // namespace dmoe
