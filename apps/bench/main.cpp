// dmoe-bench: benchmarks that print ratios measured in one run. `dmoe-bench --help` lists them.
#include "apps/bench/bench.hpp"

int main(int argc, char** argv) {
  CLI::App app{"dmoe benchmarks: each prints dmoe's figures next to a reference measured in the "
               "same run"};
  app.require_subcommand(1);
  dmoe::bench::add_codec_bench(app);
  dmoe::bench::add_dht_bench(app);
  dmoe::bench::add_grouped_bench(app);
  dmoe::bench::add_moe_bench(app);
  dmoe::bench::add_scale_bench(app);
  dmoe::bench::add_server_bench(app);
  dmoe::bench::add_wan_bench(app);
  dmoe::bench::add_wire_bench(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
