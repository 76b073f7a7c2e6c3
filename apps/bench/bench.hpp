// dmoe-bench subcommands. Each benchmark measures dmoe and a reference in the same run and
// prints their ratio, since absolute times differ between machines; each prints the BLAS in use.
#pragma once

#include <algorithm>
#include <vector>

#include <CLI/CLI.hpp>

namespace dmoe::bench {

/// The median of `xs` (the upper one of an even count); 0 for none.
inline double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs.empty() ? 0.0 : xs[xs.size() / 2];
}

void add_codec_bench(CLI::App& app);
void add_dht_bench(CLI::App& app);
void add_grouped_bench(CLI::App& app);
void add_moe_bench(CLI::App& app);
void add_scale_bench(CLI::App& app);
void add_server_bench(CLI::App& app);
void add_wan_bench(CLI::App& app);
void add_wire_bench(CLI::App& app);

}  // namespace dmoe::bench
