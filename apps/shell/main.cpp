// dmoe-shell: asks a running dmoe node's inspector questions and prints the answers.
//   dmoe-shell 127.0.0.1:4100                       interactive (line editing, history)
//   dmoe-shell 127.0.0.1:4100 --exec experts --exec "dht get ffn."
// Type `help` for the node's commands; `quit`, `exit` or end of input leaves. With --exec the
// commands run in order and the exit code is 1 when any failed (messages on stderr).
#include <cstdio>
#include <string>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>

#include "apps/common/tool_config.hpp"
#include "apps/shell/line_editor.hpp"
#include "apps/shell/session.hpp"
#include "messages/errors.hpp"
#include "runtime/logging.hpp"
#include "runtime/node_config.hpp"

using namespace dmoe;

namespace {

constexpr double default_timeout_s = 10;

void print_answer(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  if (!text.empty() && text.back() != '\n')
    std::fputc('\n', stdout);
  std::fflush(stdout);
}

bool run_one(shell::session& node, const std::string& line) {
  auto answer = node.run(line);
  if (!answer) {
    std::fprintf(stderr, "dmoe-shell: '%s' failed: %s\n", line.c_str(),
                 describe(answer.error()).c_str());
    return false;
  }
  print_answer(*answer);
  return true;
}

int run_batch(shell::session& node, const std::vector<std::string>& commands) {
  bool all_ok = true;
  for (const auto& line : commands)
    all_ok = run_one(node, line) && all_ok;
  return all_ok ? 0 : 1;
}

int run_interactive(shell::session& node) {
  shell::line_editor editor{shell::line_editor::default_history_file()};
  if (isatty(STDIN_FILENO))
    std::printf("connected to %s; 'help' lists the commands, 'quit' leaves\n",
                node.address().c_str());
  auto prompt = "dmoe " + node.address() + "> ";
  while (auto line = editor.read(prompt)) {
    auto first = line->find_first_not_of(" \t");
    if (first == std::string::npos)
      continue;
    auto command = line->substr(first, line->find_last_not_of(" \t") + 1 - first);
    if (command == "quit" || command == "exit")
      return 0;
    run_one(node, command);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dmoe-shell: inspect a running dmoe node (its experts, DHT, trainers, stats)"};
  std::string address;
  std::vector<std::string> commands;
  double timeout_s = default_timeout_s;
  app.add_option("node", address, "the node's host:port")->required();
  app.add_option("--exec,-e", commands, "run this command instead of reading input (repeatable)")
    ->allow_extra_args(false);
  app.add_option("--timeout", timeout_s, "seconds to wait for each answer")
    ->check(CLI::PositiveNumber);
  tool_config_flags config_flags;
  config_flags.add_to(app);
  CLI11_PARSE(app, argc, argv);

  log::setup("warn");
  node_config cfg;
  if (auto err = config_flags.parse(cfg)) {
    std::fprintf(stderr, "dmoe-shell: %s\n", describe(err).c_str());
    return 2;
  }
  caf::actor_system system{cfg};
  if (auto err = tool_config_flags::apply(system, cfg, "shell/wire")) {
    std::fprintf(stderr, "dmoe-shell: %s\n", describe(err).c_str());
    return 2;
  }
  auto timeout = std::chrono::duration_cast<caf::timespan>(std::chrono::duration<double>(timeout_s));
  auto node = shell::session::connect(system, address, timeout);
  if (!node) {
    std::fprintf(stderr, "dmoe-shell: %s\n", describe(node.error()).c_str());
    return 1;
  }
  return commands.empty() ? run_interactive(*node) : run_batch(*node, commands);
}
