#define CAF_SUITE trainer.swarm
#include <caf/test/unit_test.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>

#include <caf/scoped_actor.hpp>
#include <torch/types.h>

#include "messages/expert_pattern.hpp"
#include "messages/type_ids.hpp"
#include "runtime/expert_codec.hpp"
#include "runtime/experts/expert_module.hpp"
#include "runtime/node_config.hpp"
#include "tests/process_util.hpp"

using namespace dmoe;
using namespace dmoe::test;

namespace {

constexpr auto start_limit = std::chrono::seconds(20);
constexpr auto training_limit = std::chrono::seconds(240);
constexpr const char* hidden = "64";

/// A fixed input for comparing one expert's answers across a restart.
torch::Tensor probe_input() {
  return torch::linspace(-1, 1, 4 * std::stoi(hidden)).reshape({4, std::stoi(hidden)});
}

/// (step, loss) of every row of a trainer's metrics CSV.
std::vector<std::pair<long, double>> read_losses(const std::string& path) {
  std::vector<std::pair<long, double>> out;
  std::istringstream in{read_file(path)};
  std::string line;
  std::getline(in, line);  // header: time_s,step,epoch,samples,loss,...
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::istringstream row{line};
    for (std::string cell; std::getline(row, cell, ',');)
      cells.push_back(cell);
    if (cells.size() >= 5)
      out.emplace_back(std::stol(cells[1]), std::stod(cells[4]));
  }
  return out;
}

struct swarm {
  std::string dir = temp_dir("swarm");
  std::vector<process> procs;
  uint16_t dht_port = free_port();
  std::vector<uint16_t> server_ports{free_port(), free_port()};

  ~swarm() {
    kill_all_launched(procs);
    // A failed CAF_REQUIRE aborts before this runs: the logs of such a run stay for reading.
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  process& start(std::vector<std::string> args, const std::string& name) {
    args.insert(args.begin(), DMOE_NODE_BINARY);
    procs.push_back(launch(args, dir + "/" + name + ".log"));
    CAF_REQUIRE(procs.back().pid > 0);
    return procs.back();
  }

  /// Server i hosts grid rows 2i and 2i+1 and checkpoints every second.
  std::vector<std::string> server_args(int i) const {
    return {"--config-file=" DMOE_CONFIG_DIR "/server.ini",
            "--node.name=\"server-" + std::to_string(i) + "\"",
            "--node.port=" + std::to_string(server_ports[i]), bootstrap(),
            "--server.expert-pattern=\"ffn.[" + std::to_string(2 * i) + ":"
              + std::to_string(2 * i + 2) + "].[0:4]\"",
            std::string{"--server.hidden="} + hidden, "--server.checkpoint-period=1s",
            "--server.checkpoint-dir=\"" + dir + "/ckpt-" + std::to_string(i) + "\""};
  }

  std::string bootstrap() const {
    return "--dht.bootstrap=[\"127.0.0.1:" + std::to_string(dht_port) + "\"]";
  }

  /// The DHT bootstrap node and both servers, listening.
  void start_servers() {
    start({"--config-file=" DMOE_CONFIG_DIR "/dht-bootstrap.ini",
           "--node.port=" + std::to_string(dht_port)},
          "dht");
    CAF_REQUIRE(wait_listening(dht_port, start_limit));
    for (int i = 0; i < 2; ++i)
      start(server_args(i), "server-" + std::to_string(i));
    for (auto port : server_ports)
      CAF_REQUIRE(wait_listening(port, start_limit));
  }

  std::string write_small_text() const {
    return write_verses_text(dir);
  }

  /// Trains a 2-block language model of width `hidden` for 60 steps on `text_file` through the
  /// swarm, checkpointing to `checkpoint`: it must end with 0 failed steps and held-out bits
  /// per character below a uniform guess's (log2(601) / ~4 characters per token, 2.3+).
  void train_small_lm(const std::string& text_file, const std::string& checkpoint,
                      std::vector<std::string> extra) {
    std::vector<std::string> args{"--config-file=" DMOE_CONFIG_DIR "/lm-trainer.ini", bootstrap(),
                                  "--trainer.text-file=\"" + text_file + "\"",
                                  "--trainer.cache-dir=\"" + dir + "/cache\"",
                                  "--trainer.vocab-size=600",
                                  std::string{"--trainer.hidden="} + hidden,
                                  "--trainer.moe-layers=2", "--trainer.context=32",
                                  "--trainer.batch-size=8", "--trainer.max-steps=60",
                                  "--trainer.learning-rate=0.003",
                                  "--trainer.checkpoint-dir=\"" + checkpoint + "\""};
    args.insert(args.end(), extra.begin(), extra.end());
    auto& trainer = start(args, "lm-trainer");
    auto rc = wait_exit(trainer.pid, training_limit);
    trainer.pid = -1;
    auto log = read_file(dir + "/lm-trainer.log");
    if (rc != 0)
      dump_logs();
    CAF_REQUIRE_EQUAL(rc, 0);
    std::smatch m;
    static const std::regex done{R"(done: 60 steps.*held-out ([0-9.]+) bits per character )"
                                 R"(\(test text ([0-9.]+)\), 0 failed steps)"};
    CAF_REQUIRE(std::regex_search(log, m, done));
    CAF_MESSAGE(m[0]);
    CAF_CHECK_LESS(std::stod(m[1]), 2.5);
  }

  /// dmoe-generate's exit status and output for a checkpoint, 20 tokens, `extra` arguments.
  std::pair<int, std::string> run_generate(const std::string& checkpoint,
                                           std::vector<std::string> extra,
                                           const std::string& name) {
    std::vector<std::string> args{DMOE_GENERATE_BINARY, "--checkpoint", checkpoint, "--dht",
                                  "127.0.0.1:" + std::to_string(dht_port), "--tokens", "20"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = launch(args, dir + "/" + name + ".log");
    auto rc = wait_exit(p.pid, std::chrono::seconds(60));  // before the log is read
    return {rc, read_file(dir + "/" + name + ".log")};
  }

  /// The checkpoint's model goes on from a prompt through the swarm.
  void check_generates(const std::string& checkpoint) {
    auto [rc, generated] = run_generate(checkpoint, {"--prompt", "And God"}, "generate");
    CAF_MESSAGE("generated (exit " << rc << "): " << generated);
    CAF_CHECK_EQUAL(rc, 0);
    CAF_CHECK_EQUAL(generated.rfind("And God", 0), 0u);
    CAF_CHECK_GREATER(generated.size(), std::string{"And God"}.size() + 10);
  }

  void dump_logs() {
    for (auto& p : procs)
      CAF_MESSAGE(p.log_path << ":\n" << read_file(p.log_path));
  }

  /// The answer of `expert` to probe_input(), called like a trainer does: over TCP through the
  /// node's gateway. Undefined when the call fails.
  torch::Tensor forward_through(uint16_t port, const std::string& expert) {
    node_config cfg;
    CAF_REQUIRE(!cfg.parse_and_validate(std::vector<std::string>{}));
    caf::actor_system system{cfg};
    auto node = connect_node(system, port);
    CAF_REQUIRE(node);
    caf::scoped_actor self{system};
    torch::Tensor out;
    self->request(node, std::chrono::seconds(10), expert_rpc_atom::value,
                  encode(expert_call{forward_call{expert, {probe_input()}}}))
      .receive(
        [&](payload& reply) {
          auto decoded = decode_expert_reply(std::move(reply));
          if (decoded)
            if (auto* result = std::get_if<forward_result>(&*decoded))
              out = result->outputs.at(0).clone();
        },
        [&](caf::error& err) { CAF_MESSAGE("forward failed: " << describe(err)); });
    return out;
  }

  /// Runs dmoe-shell --exec CMD against a node; returns (exit code, output).
  std::pair<int, std::string> shell(uint16_t port, const std::string& command) {
    auto log = dir + "/shell-" + std::to_string(port) + ".log";
    auto p = launch({DMOE_SHELL_BINARY, "127.0.0.1:" + std::to_string(port), "--exec", command},
                    log);
    return {wait_exit(p.pid, std::chrono::seconds(20)), read_file(log)};
  }
};

/// What ffn.1.2 of server-0 answers before any training: its weights come from the server's
/// seed (the hash of its logger name, see actors/server/server.hpp) and the id.
torch::Tensor untrained_ffn_output() {
  auto expert = make_expert("ffn", std::stoi(hidden),
                            expert_seed(stable_hash("server-0/server"), "ffn.1.2"));
  CAF_REQUIRE(expert);
  torch::NoGradGuard no_grad;
  return (*expert)->forward({probe_input()})[0];
}

size_t checkpoints_newer_than(const std::string& dir, std::filesystem::file_time_type when) {
  size_t n = 0;
  for (auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().extension() == ".pt"
        && entry.last_write_time() > when)
      ++n;
  return n;
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(swarm_tests, swarm)

CAF_TEST(one DHT node two servers and a trainer train on Fashion-MNIST) {
  start_servers();
  auto csv = dir + "/trainer.csv";
  auto& trainer = start({"--config-file=" DMOE_CONFIG_DIR "/trainer.ini", bootstrap(),
                         std::string{"--trainer.hidden="} + hidden, "--trainer.max-steps=200",
                         "--trainer.eval-every=100", "--trainer.metrics-csv=\"" + csv + "\""},
                        "trainer");

  // The server's inspector lists the experts it hosts while the trainer calls them. The node
  // listens before its roles are up (it joins the DHT first): ask again until it answers.
  std::pair<int, std::string> answer;
  poll_until([&] { return (answer = shell(server_ports[0], "experts")).first == 0; }, start_limit,
             std::chrono::milliseconds(200));
  auto [rc, listing] = answer;
  CAF_MESSAGE("dmoe-shell --exec experts:\n" << listing);
  CAF_CHECK_EQUAL(rc, 0);
  for (auto id : {"ffn.0.0", "ffn.0.3", "ffn.1.2"})
    CAF_CHECK_NOT_EQUAL(listing.find(id), std::string::npos);

  auto trainer_rc = wait_exit(trainer.pid, training_limit);
  if (trainer_rc != 0)
    dump_logs();
  CAF_REQUIRE_EQUAL(trainer_rc, 0);
  trainer.pid = -1;
  auto losses = read_losses(csv);
  CAF_REQUIRE_GREATER_OR_EQUAL(losses.size(), 2u);
  CAF_MESSAGE("loss at step " << losses.front().first << ": " << losses.front().second
                              << ", at step " << losses.back().first << ": "
                              << losses.back().second);
  CAF_CHECK_EQUAL(losses.front().first, 1);
  CAF_CHECK_EQUAL(losses.back().first, 200);
  CAF_CHECK_LESS(losses.back().second, 0.6 * losses.front().second);

  // A server killed with SIGKILL and restarted from its checkpoints answers with the trained
  // weights: wait for a periodic checkpoint written after the last update, then compare.
  auto ckpt = dir + "/ckpt-0";
  auto trained = forward_through(server_ports[0], "ffn.1.2");
  CAF_REQUIRE(trained.defined());
  auto ended = std::filesystem::file_time_type::clock::now();
  CAF_REQUIRE(poll_until([&] { return checkpoints_newer_than(ckpt, ended) == 8; },
                         std::chrono::seconds(15), std::chrono::milliseconds(100)));
  kill(procs[1].pid, SIGKILL);
  CAF_CHECK_EQUAL(wait_exit(procs[1].pid, std::chrono::seconds(10)), 128 + SIGKILL);
  procs[1].pid = -1;
  start(server_args(0), "server-0-restarted");
  // The node listens before its server role is up (it joins the DHT first): poll until it serves.
  torch::Tensor restored;
  CAF_REQUIRE(poll_until(
    [&] { return (restored = forward_through(server_ports[0], "ffn.1.2")).defined(); },
    start_limit, std::chrono::milliseconds(100)));
  CAF_CHECK(torch::allclose(trained, restored, 0, 0));
  // A fresh server (no checkpoint) would answer differently: the check above can fail.
  CAF_CHECK(!torch::allclose(trained, untrained_ffn_output(), 1e-3, 1e-3));

  // Servers stop on SIGTERM (declarations stop, checkpoints are written).
  for (size_t i = 1; i < procs.size(); ++i) {
    if (procs[i].pid <= 0)
      continue;
    kill(procs[i].pid, SIGTERM);
    CAF_CHECK_EQUAL(wait_exit(procs[i].pid, std::chrono::seconds(30)), 0);
    procs[i].pid = -1;
  }
}

CAF_TEST(a trainer with four workers keeps batches in flight and learns) {
  start_servers();
  auto csv = dir + "/trainer.csv";
  auto& trainer = start({"--config-file=" DMOE_CONFIG_DIR "/trainer.ini", bootstrap(),
                         std::string{"--trainer.hidden="} + hidden, "--trainer.max-steps=200",
                         "--trainer.workers=4", "--trainer.eval-every=1000",
                         "--trainer.metrics-csv=\"" + csv + "\""},
                        "trainer");
  auto rc = wait_exit(trainer.pid, training_limit);
  if (rc != 0)
    dump_logs();
  CAF_REQUIRE_EQUAL(rc, 0);
  trainer.pid = -1;
  auto losses = read_losses(csv);
  CAF_REQUIRE_GREATER_OR_EQUAL(losses.size(), 2u);
  CAF_CHECK_EQUAL(losses.back().first, 200);
  CAF_CHECK_LESS(losses.back().second, 0.6 * losses.front().second);
  // Updates overlapped (a gradient came from parameters others had moved), and none applied was
  // staler than trainer.max-staleness (the number of workers by default).
  std::smatch m;
  auto log = read_file(dir + "/trainer.log");
  static const std::regex staleness{R"(staleness ([0-9.]+) \(max (\d+), (\d+) dropped\))"};
  CAF_REQUIRE(std::regex_search(log, m, staleness));
  CAF_MESSAGE("loss " << losses.front().second << " -> " << losses.back().second << ", " << m[0]);
  auto max_staleness = std::stoi(m[2]);
  CAF_CHECK_GREATER_OR_EQUAL(max_staleness, 1);
  CAF_CHECK_LESS_OR_EQUAL(max_staleness, 4);
}

CAF_TEST(a trainer process killed hard resumes from its checkpoint) {
  start_servers();
  auto csv = dir + "/trainer.csv";
  // The first run cannot end before it is killed (its step limit is far away); the second
  // resumes and ends at `last_step`.
  constexpr long last_step = 600;
  std::vector<std::string> args{"--config-file=" DMOE_CONFIG_DIR "/trainer.ini", bootstrap(),
                                std::string{"--trainer.hidden="} + hidden,
                                "--trainer.eval-every=1000", "--trainer.checkpoint-period=1s",
                                "--trainer.checkpoint-dir=\"" + dir + "/trainer-checkpoint\"",
                                "--trainer.metrics-csv=\"" + csv + "\""};
  auto first_args = args;
  first_args.push_back("--trainer.max-steps=1000000");
  args.push_back("--trainer.max-steps=" + std::to_string(last_step));
  auto& first = start(first_args, "trainer");
  auto checkpoint = dir + "/trainer-checkpoint/trainer.pt";
  auto step_now = [&] {
    auto losses = read_losses(csv);
    return losses.empty() ? 0L : losses.back().first;
  };
  // Past step 50 (a CSV row every 50 steps) and a checkpoint written after it.
  CAF_REQUIRE(poll_until([&] { return step_now() >= 50; }, training_limit,
                         std::chrono::milliseconds(100)));
  auto seen = std::filesystem::file_time_type::clock::now();
  CAF_REQUIRE(poll_until(
    [&] {
      return std::filesystem::exists(checkpoint)
             && std::filesystem::last_write_time(checkpoint) > seen;
    },
    std::chrono::seconds(20), std::chrono::milliseconds(100)));
  kill(first.pid, SIGKILL);
  auto killed_after = step_now();
  CAF_CHECK_EQUAL(wait_exit(first.pid, std::chrono::seconds(10)), 128 + SIGKILL);
  first.pid = -1;
  auto& second = start(args, "trainer-restarted");
  auto rc = wait_exit(second.pid, training_limit);
  if (rc != 0)
    dump_logs();
  CAF_REQUIRE_EQUAL(rc, 0);
  second.pid = -1;
  auto log = read_file(dir + "/trainer-restarted.log");
  std::smatch m;
  static const std::regex resumed{R"(resumed from .* at step (\d+))"};
  CAF_REQUIRE(std::regex_search(log, m, resumed));
  auto at = std::stol(m[1]);
  CAF_MESSAGE(m[0] << "; the killed process had written CSV rows up to step " << killed_after);
  CAF_CHECK_GREATER_OR_EQUAL(at, 50);
  CAF_REQUIRE_LESS(at, last_step);
  // It went on to the end instead of starting over: one CSV, steps increasing to the last.
  auto losses = read_losses(csv);
  CAF_REQUIRE(!losses.empty());
  CAF_CHECK_EQUAL(losses.back().first, last_step);
  CAF_CHECK_EQUAL(losses.front().first, 1);
  CAF_CHECK_NOT_EQUAL(log.find("resumed at step " + std::to_string(at)), std::string::npos);
}

CAF_TEST(a language model trains through the swarm and writes text through it) {
  auto text_file = write_small_text();
  // Two blocks: servers host rows of both grids, ffn and ffn-1.
  start({"--config-file=" DMOE_CONFIG_DIR "/dht-bootstrap.ini",
         "--node.port=" + std::to_string(dht_port)},
        "dht");
  CAF_REQUIRE(wait_listening(dht_port, start_limit));
  for (int i = 0; i < 2; ++i) {
    auto args = server_args(i);
    auto rows = "[" + std::to_string(2 * i) + ":" + std::to_string(2 * i + 2) + "].[0:4]";
    args.push_back("--server.expert-pattern=\"ffn." + rows + ",ffn-1." + rows + "\"");
    start(args, "server-" + std::to_string(i));
  }
  for (auto port : server_ports)
    CAF_REQUIRE(wait_listening(port, start_limit));
  auto checkpoint = dir + "/lm-checkpoint";
  train_small_lm(text_file, checkpoint, {});
  // dmoe-generate writes through the swarm: the experts answer from the servers.
  check_generates(checkpoint);
  auto generate = [&](std::vector<std::string> extra, const std::string& name) {
    return run_generate(checkpoint, std::move(extra), name);
  };
  // A prompt longer than the context, and a tokenizer the model was not trained with: refused
  // with the value named, exit 2.
  std::string long_prompt;
  for (int i = 0; i < 40; ++i)
    long_prompt += "light ";
  auto [long_rc, long_out] = generate({"--prompt", long_prompt}, "generate-long");
  CAF_CHECK_EQUAL(long_rc, 2);
  CAF_CHECK_NOT_EQUAL(long_out.find("longer than the model's context of 32"), std::string::npos);
  std::string other_text;
  for (int i = 0; i < 200; ++i)
    other_text += "Another text entirely, line " + std::to_string(i) + "\n\n";
  std::ofstream{dir + "/other.txt"} << other_text;
  auto other_args = std::vector<std::string>{"--config-file=" DMOE_CONFIG_DIR "/lm-trainer.ini",
                                             "--trainer.text-file=\"" + dir + "/other.txt\"",
                                             "--trainer.cache-dir=\"" + dir + "/cache\"",
                                             "--trainer.vocab-size=600", "--trainer.max-steps=1",
                                             bootstrap()};
  auto& other = start(other_args, "other-trainer");
  wait_exit(other.pid, training_limit);
  other.pid = -1;
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/cache")) {
    auto path = entry.path().string();
    if (entry.path().extension() != ".model")
      continue;
    auto [tokenizer_rc, tokenizer_out] = generate({"--tokenizer", path}, "generate-tokenizer");
    if (tokenizer_rc == 0)
      continue;  // the model's own tokenizer
    CAF_CHECK_EQUAL(tokenizer_rc, 2);
    CAF_CHECK_NOT_EQUAL(tokenizer_out.find("is not the one the model was trained with"),
                        std::string::npos);
  }
}

CAF_TEST(a language model of whole remote blocks (moe.routing = sequence) trains and writes) {
  auto text_file = write_small_text();
  start({"--config-file=" DMOE_CONFIG_DIR "/dht-bootstrap.ini",
         "--node.port=" + std::to_string(dht_port)},
        "dht");
  CAF_REQUIRE(wait_listening(dht_port, start_limit));
  // One server hosts both blocks' grids of causal-transformer experts, sequences of up to 32.
  auto args = server_args(0);
  args.push_back("--server.expert-pattern=\"block.[0:4].[0:4],block-1.[0:4].[0:4]\"");
  args.push_back("--server.expert-type=\"causal-transformer\"");
  args.push_back("--server.max-tokens=32");
  start(args, "server-0");
  CAF_REQUIRE(wait_listening(server_ports[0], start_limit));
  auto checkpoint = dir + "/lm-checkpoint";
  train_small_lm(text_file, checkpoint,
                 {"--moe.routing=\"sequence\"", "--moe.expert-prefix=\"block\""});
  check_generates(checkpoint);
}

CAF_TEST(a trainer without its data set or with a bad config exits with a clear message) {
  auto run = [&](std::vector<std::string> args, const std::string& name) {
    auto& p = start(std::move(args), name);
    auto rc = wait_exit(p.pid, std::chrono::seconds(20));
    p.pid = rc == -1 ? p.pid : -1;
    return std::make_pair(rc, read_file(dir + "/" + name + ".log"));
  };
  auto [rc1, out1] = run({"--config-file=" DMOE_CONFIG_DIR "/trainer.ini",
                          "--trainer.data-dir=\"" + dir + "/no-such-dir\""},
                         "no-data");
  CAF_CHECK_NOT_EQUAL(rc1, 0);
  CAF_CHECK_NOT_EQUAL(rc1, -1);
  CAF_CHECK_NOT_EQUAL(out1.find("Fashion-MNIST"), std::string::npos);
  CAF_MESSAGE(out1);
  auto [rc2, out2] = run({"--config-file=" DMOE_CONFIG_DIR "/trainer.ini", "--trainer.batchsize=3"},
                         "unknown-key");
  CAF_CHECK_EQUAL(rc2, 2);
  CAF_CHECK_NOT_EQUAL(out2.find("trainer.batchsize"), std::string::npos);
  auto [rc3, out3] = run({"--config-file=" DMOE_CONFIG_DIR "/server.ini",
                          "--server.expert-pattern=\"ffn.[3:1]\""},
                         "bad-pattern");
  CAF_CHECK_EQUAL(rc3, 2);
  CAF_CHECK_NOT_EQUAL(out3.find("server.expert-pattern"), std::string::npos);
  CAF_MESSAGE(out3);
}

CAF_TEST_FIXTURE_SCOPE_END()
