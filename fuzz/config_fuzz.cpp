// A config file's text as a user writes one (configs/*.ini seed it): parsed and validated by
// node_config, which must answer with settings or an error, never crash. The text goes through
// a file, as with --config-file.
#include <cstdio>
#include <string>

#include <unistd.h>

#include "runtime/node_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/dmoe-fuzz-config-" + std::to_string(::getpid()) + ".ini";
  auto* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr)
    return 0;
  std::fwrite(data, 1, size, file);
  std::fclose(file);
  dmoe::node_config cfg;
  (void) cfg.parse_and_validate(std::vector<std::string>{"--config-file=" + path});
  return 0;
}
