// What a checkpoint must hold before an expert trusts it, and durable file moves. A file can
// be cut short by a crash, damaged on disk, or written by a server whose expert had diverged:
// loading NaN weights or optimizer moments of another shape would poison every later call.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>
#include <torch/types.h>

namespace dmoe {

/// Why `value` (named `name` in messages) cannot be trusted: it holds a NaN or an infinity.
std::optional<std::string> non_finite_problem(const std::string& name, const torch::Tensor& value);

/// Why `optimizer`'s state (just loaded) does not fit `parameters`: an Adam moment or SGD
/// momentum buffer of another shape or dtype, or non-finite, or a negative Adam step count.
/// Parameters without state (never stepped) are fine.
std::optional<std::string> optimizer_state_problem(torch::optim::Optimizer& optimizer,
                                                   const std::vector<torch::Tensor>& parameters);

/// Flushes the directory holding `path`, so a rename into it survives a crash.
void sync_parent_directory(const std::string& path);

/// Renames `path` to the first free name among `path`.bad, `path`.bad.1, ... and syncs the
/// directory. Returns the new name, or nothing when the rename failed.
std::optional<std::string> move_aside(const std::string& path);

}  // namespace dmoe
