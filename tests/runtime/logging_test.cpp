// Logging (runtime/logging.hpp): one spdlog logger per name, every line carrying that name, and
// the level set by log::setup (from node.log-level) applied to old and new loggers alike.
// Lines are checked through the file sink: log::setup(level, file), then the file is read back.
#define CAF_SUITE runtime.logging
#include <caf/test/unit_test.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "runtime/logging.hpp"
#include "runtime/node_config.hpp"

using namespace dmoe;

namespace {

struct temp_file {
  std::string path;
  temp_file() {
    char name[] = "/tmp/dmoe-log-XXXXXX";
    int fd = mkstemp(name);
    CAF_REQUIRE(fd >= 0);
    close(fd);
    path = name;
  }
  ~temp_file() {
    std::remove(path.c_str());
  }
  std::vector<std::string> lines() const {
    std::ifstream in{path};
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);)
      out.push_back(line);
    return out;
  }
};

bool contains(const std::string& line, const std::string& part) {
  return line.find(part) != std::string::npos;
}

size_t count_containing(const std::vector<std::string>& lines, const std::string& part) {
  size_t n = 0;
  for (const auto& line : lines)
    n += contains(line, part) ? 1 : 0;
  return n;
}

}  // namespace

CAF_TEST(parse_level knows the spdlog level names) {
  CAF_CHECK(log::parse_level("trace") == spdlog::level::trace);
  CAF_CHECK(log::parse_level("debug") == spdlog::level::debug);
  CAF_CHECK(log::parse_level("info") == spdlog::level::info);
  CAF_CHECK(log::parse_level("warn") == spdlog::level::warn);
  CAF_CHECK(log::parse_level("error") == spdlog::level::err);
  CAF_CHECK(log::parse_level("critical") == spdlog::level::critical);
  CAF_CHECK(log::parse_level("off") == spdlog::level::off);
  CAF_CHECK(!log::parse_level("loud"));
  CAF_CHECK(!log::parse_level(""));
}

CAF_TEST(one logger per name) {
  auto a = log::get("node-a/dht");
  auto a2 = log::get("node-a/dht");
  auto b = log::get("node-a/server");
  CAF_REQUIRE(a && b);
  CAF_CHECK(a.get() == a2.get());
  CAF_CHECK(a.get() != b.get());
  CAF_CHECK_EQUAL(a->name(), "node-a/dht");
  CAF_CHECK_EQUAL(b->name(), "node-a/server");
}

CAF_TEST(every line carries its logger name) {
  temp_file file;
  log::setup("info", file.path);
  auto dht = log::get("node-b/dht");
  auto server = log::get("node-b/server");
  dht->info("stored {} items", 3);
  server->info("expert {} ready", "ffn.1.2");
  dht->warn("peer {} unreachable", "10.0.0.1:4000");
  dht->flush();
  server->flush();
  auto lines = file.lines();
  CAF_REQUIRE_EQUAL(lines.size(), 3u);
  CAF_CHECK(contains(lines[0], "[node-b/dht]") && contains(lines[0], "stored 3 items"));
  CAF_CHECK(contains(lines[1], "[node-b/server]") && contains(lines[1], "expert ffn.1.2 ready"));
  CAF_CHECK(contains(lines[2], "[node-b/dht]") && contains(lines[2], "peer 10.0.0.1:4000"));
  CAF_CHECK(contains(lines[2], "warn"));
  CAF_CHECK_EQUAL(count_containing(lines, "[node-b/server]"), 1u);
  log::setup("info");
}

CAF_TEST(the level applies to existing and new loggers) {
  temp_file file;
  auto early = log::get("node-c/early");  // created before setup
  log::setup("warn", file.path);
  auto late = log::get("node-c/late");
  for (const auto& logger : {early, late}) {
    logger->debug("debug line");
    logger->info("info line");
    logger->warn("warn line");
    logger->error("error line");
    logger->flush();
  }
  auto lines = file.lines();
  CAF_CHECK_EQUAL(count_containing(lines, "debug line"), 0u);
  CAF_CHECK_EQUAL(count_containing(lines, "info line"), 0u);
  CAF_CHECK_EQUAL(count_containing(lines, "warn line"), 2u);
  CAF_CHECK_EQUAL(count_containing(lines, "error line"), 2u);
  CAF_CHECK_EQUAL(count_containing(lines, "[node-c/early]"), 2u);
  CAF_CHECK_EQUAL(count_containing(lines, "[node-c/late]"), 2u);
  // Setting up again with a lower level lets debug lines through.
  temp_file second;
  log::setup("debug", second.path);
  early->debug("now visible");
  early->flush();
  CAF_CHECK_EQUAL(count_containing(second.lines(), "now visible"), 1u);
  // The first file no longer receives lines.
  CAF_CHECK_EQUAL(count_containing(file.lines(), "now visible"), 0u);
  log::setup("info");
}

CAF_TEST(the level and file come from the node config) {
  temp_file file;
  node_config cfg;
  auto err = cfg.parse_and_validate(
    std::vector<std::string>{"--node.log-level=error", "--node.log-file=" + file.path});
  CAF_REQUIRE_EQUAL(describe(err), "no error");
  CAF_CHECK_EQUAL(cfg.node.log_level, "error");
  log::setup(cfg.node.log_level, cfg.node.log_file);
  auto logger = log::get("node-d/main");
  logger->warn("suppressed warning");
  logger->error("reported error");
  logger->flush();
  auto lines = file.lines();
  CAF_CHECK_EQUAL(count_containing(lines, "suppressed warning"), 0u);
  CAF_REQUIRE_EQUAL(count_containing(lines, "reported error"), 1u);
  CAF_CHECK(contains(lines.back(), "[node-d/main]"));
  log::setup("info");
}

CAF_TEST(the log file rotates and keeps a bounded number of files) {
  temp_file file;
  constexpr size_t max_bytes = 16 << 10;
  log::setup("info", file.path, {max_bytes, 2});
  auto logger = log::get("node-e/main");
  for (int i = 0; i < 2000; ++i)
    logger->info("line {} {}", i, std::string(80, 'x'));
  logger->flush();
  log::setup("info");
  auto rotated = [&](int n) { return file.path + "." + std::to_string(n); };
  auto size_of = [](const std::string& path) {
    std::ifstream in{path, std::ios::binary | std::ios::ate};
    return in ? static_cast<size_t>(in.tellg()) : size_t{0};
  };
  CAF_CHECK_LESS_OR_EQUAL(size_of(file.path), max_bytes);
  CAF_CHECK_GREATER(size_of(rotated(1)), 0u);
  CAF_CHECK_LESS_OR_EQUAL(size_of(rotated(1)), max_bytes);
  CAF_CHECK_GREATER(size_of(rotated(2)), 0u);
  CAF_CHECK_EQUAL(size_of(rotated(3)), 0u);  // never written: two rotated files are kept
  CAF_CHECK_EQUAL(count_containing(file.lines(), "line 1999"), 1u);
  for (int n = 1; n <= 3; ++n)
    std::remove(rotated(n).c_str());
}

CAF_TEST(a message cannot start a line or carry control characters) {
  temp_file file;
  log::setup("info", file.path);
  auto logger = log::get("node-f/main");
  logger->warn("peer said {}", "x\n2026-01-01 00:00:00.000 critical [node] forged\x1b[2J");
  logger->warn("{}", std::string(10000, 'y'));
  logger->flush();
  log::setup("info");
  auto lines = file.lines();
  CAF_REQUIRE_EQUAL(lines.size(), 2u);
  CAF_CHECK(contains(lines[0], "peer said x\\x0a2026-01-01"));
  CAF_CHECK(contains(lines[0], "\\x1b[2J"));
  CAF_CHECK(contains(lines[1], "... (10000 bytes)"));
  CAF_CHECK_LESS(lines[1].size(), log::max_line_bytes + 100);
  CAF_CHECK_EQUAL(log::escaped("a\\b\x01\xff" "cdef", 6), "a\\x5cb\\x01\\xffc... (9 bytes)");
}
