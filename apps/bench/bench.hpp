// dmoe-bench subcommands. Each benchmark measures dmoe and a reference in the same run and
// prints their ratio, since absolute times differ between machines; each prints the BLAS in use.
#pragma once

#include <CLI/CLI.hpp>

namespace dmoe::bench {

void add_codec_bench(CLI::App& app);
void add_dht_bench(CLI::App& app);
void add_moe_bench(CLI::App& app);
void add_server_bench(CLI::App& app);
void add_wan_bench(CLI::App& app);

}  // namespace dmoe::bench
