#define CAF_SUITE runtime.node_config
#include <caf/test/unit_test.hpp>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <unistd.h>

#include "runtime/node_config.hpp"

using namespace dmoe;

// CAF_CHECK, and when it fails a message saying why.
#define CHECK_SAYING(condition, why)                                                              \
  do {                                                                                            \
    if (!(condition))                                                                             \
      CAF_MESSAGE(why);                                                                           \
    CAF_CHECK(condition);                                                                         \
  } while (false)

namespace {

// Writes `text` to a temporary config file and parses it, plus any extra arguments.
struct config_file {
  std::string path;
  explicit config_file(const std::string& text) {
    char name[] = "/tmp/dmoe-config-XXXXXX";
    int fd = mkstemp(name);
    CAF_REQUIRE(fd >= 0);
    close(fd);
    path = name;
    std::ofstream{path} << text;
  }
  ~config_file() {
    std::remove(path.c_str());
  }
};

caf::error parse(node_config& cfg, const std::string& text,
                 std::vector<std::string> extra = {}) {
  config_file file{text};
  std::vector<std::string> args{"--config-file=" + file.path};
  args.insert(args.end(), extra.begin(), extra.end());
  return cfg.parse_and_validate(args);
}

}  // namespace

CAF_TEST(a valid file sets every group) {
  node_config cfg;
  auto err = parse(cfg, R"(
[node]
name="dht-1"
roles=["dht", "inspector"]
port=4100
log-level="debug"
[dht]
bootstrap=["127.0.0.1:4000"]
k=8
request-timeout=500ms
[limits]
nan-policy="allow"
)");
  CAF_REQUIRE_EQUAL(describe(err), "no error");
  CAF_CHECK_EQUAL(cfg.node.name, "dht-1");
  CAF_CHECK_EQUAL(cfg.node.roles.size(), 2u);
  CAF_CHECK_EQUAL(cfg.node.port, 4100);
  CAF_CHECK_EQUAL(cfg.dht.k, 8u);
  CAF_CHECK_EQUAL(cfg.dht.request_timeout, caf::timespan{std::chrono::milliseconds{500}});
  CAF_CHECK_EQUAL(cfg.dht.bootstrap.at(0), "127.0.0.1:4000");
  CAF_CHECK(cfg.limits.wire().nans == nan_policy::allow);
}

CAF_TEST(the command line overrides the file) {
  node_config cfg;
  auto err = parse(cfg, "[dht]\nk=8\n", {"--dht.k=12", "--node.name=\"x\""});
  CAF_REQUIRE_EQUAL(describe(err), "no error");
  CAF_CHECK_EQUAL(cfg.dht.k, 12u);
  CAF_CHECK_EQUAL(cfg.node.name, "x");
}

CAF_TEST(a boolean on the command line takes true or false and overrides the file) {
  node_config cfg;
  auto err = parse(cfg, "[trainer]\nprogress=true\n",
                   {"--server.adaptive-wait=false", "--node.check-advertise=false",
                    "--trainer.progress=false", "--inspector.allow-control=true"});
  CAF_REQUIRE_EQUAL(describe(err), "no error");
  CAF_CHECK(!cfg.server.adaptive_wait);
  CAF_CHECK(!cfg.node.check_advertise);
  CAF_CHECK(!cfg.trainer.progress);
  CAF_CHECK(cfg.inspector.allow_control);
  CAF_CHECK_EQUAL(caf::get_or(cfg.content, "server.adaptive-wait", true), false);
  node_config bare;  // a bare flag still sets it
  CAF_REQUIRE_EQUAL(describe(parse(bare, "", {"--trainer.progress"})), "no error");
  CAF_CHECK(bare.trainer.progress);
  node_config bad;  // anything else after '=' is still an error naming the option
  auto bad_err = parse(bad, "", {"--trainer.progress=yes"});
  CAF_CHECK_NOT_EQUAL(describe(bad_err).find("bad value 'yes' for 'trainer.progress'"),
                      std::string::npos);
}

CAF_TEST(an unknown key is named in the error) {
  node_config cfg;
  auto err = parse(cfg, "[dht]\nkk=8\n");
  CAF_CHECK_EQUAL(code_of(err), errc::invalid_argument);
  CAF_CHECK_NOT_EQUAL(describe(err).find("'dht.kk'"), std::string::npos);
  node_config cfg2;
  err = parse(cfg2, "[dhtt]\nk=8\n");
  CAF_CHECK_NOT_EQUAL(describe(err).find("'dhtt.k'"), std::string::npos);
}

CAF_TEST(a value of the wrong type is named in the error) {
  node_config cfg;
  auto err = parse(cfg, "[dht]\nk=\"many\"\n");
  CAF_CHECK_NOT_EQUAL(describe(err).find("'dht.k'"), std::string::npos);
}

CAF_TEST(values out of bounds or choices are rejected with the key named) {
  std::pair<const char*, const char*> cases[] = {
    {"[node]\nroles=[\"dht\", \"chef\"]\n", "'node.roles'"},
    {"[node]\nlog-level=\"loud\"\n", "'node.log-level'"},
    {"[dht]\nk=0\n", "'dht.k'"},
    {"[dht]\nalpha=50\n", "'dht.alpha'"},
    {"[dht]\nbootstrap=[\"nohost\"]\n", "'dht.bootstrap'"},
    {"[dht]\nbootstrap=[\"h:70000\"]\n", "'dht.bootstrap'"},
    {"[limits]\nnan-policy=\"maybe\"\n", "'limits.nan-policy'"},
    {"[dht]\nrequest-timeout=0s\n", "'dht.request-timeout'"},
    {"[node]\nroles=[\"server\"]\n", "'dht' role"},
    {"[server]\noptimizer=\"lbfgs\"\n", "'server.optimizer'"},
    {"[server]\nhidden=0\n", "'server.hidden'"},
    {"[server]\ndeclare-ttl=1s\n", "'server.declare-ttl'"},
    {"[moe]\nk-min=9\n", "'moe.k-min'"},
    {"[moe]\ngrid=[]\n", "'moe.grid'"},
    {"[trainer]\nbatch-size=0\n", "'trainer.batch-size'"},
    {"[server]\nexpert-pattern=\"ffn.[3:1]\"\n", "'server.expert-pattern'"},
    {"[server]\nexpert-pattern=\"ffn.[0:2]\"\nnum-experts=3\n", "'server.num-experts'"},
    {"[trainer]\nlearning-rate=-1.0\n", "'trainer.learning-rate'"},
    {"[server]\nfail-rate=1.5\n", "'server.fail-rate'"},
    {"[server]\nfail-rate=-0.1\n", "'server.fail-rate'"},
    {"[trainer]\nmodel=\"cnn\"\n", "'trainer.model'"},
    {"[trainer]\naccumulate=0\n", "'trainer.accumulate'"},
    {"[trainer]\naccumulate=257\n", "'trainer.accumulate'"},
    {"[server]\naccumulate-samples=1048577\n", "'server.accumulate-samples'"},
    {"[server]\nmax-tokens=0\n", "'server.max-tokens'"},
    {"[server]\noutlier-factor=0.5\n", "'server.outlier-factor'"},
    {"[dht]\nmax-stored-mb=64\nmax-peer-stored-mb=65\n", "'dht.max-peer-stored-mb'"},
    {"[server]\npeer-request-rate=-1.0\n", "'server.peer-request-rate'"},
    {"[server]\npeer-update-burst=100.0\n", "'server.peer-update-burst'"},
    {"[server]\npeer-request-burst=0.0\n", "'server.peer-request-burst'"},
    {"[server]\nmax-queued-mb=1048577\n", "'server.max-queued-mb'"},
    {"[trainer]\nlr-schedule=\"linear\"\n", "'trainer.lr-schedule'"},
    {"[limits]\npart-bytes=512\n", "'limits.part-bytes'"},
  };
  for (auto [text, key] : cases) {
    node_config cfg;
    auto err = parse(cfg, text);
    CAF_CHECK_EQUAL(code_of(err), errc::invalid_argument);
    CHECK_SAYING(describe(err).find(key) != std::string::npos,
                      "'" << describe(err) << "' does not name " << key);
  }
}

CAF_TEST(a bad value on the command line names the option and what it takes) {
  node_config cfg;
  auto err = parse(cfg, "", {"--server.optimizer=lbfgs"});
  CAF_CHECK_EQUAL(describe(err),
                  "invalid_argument: config: bad value 'lbfgs' for 'server.optimizer' "
                  "(expected adam or sgd)");
  node_config unknown;
  err = parse(unknown, "", {"--server.hiden=3"});
  CAF_CHECK_NOT_EQUAL(describe(err).find("unknown option '--server.hiden'"), std::string::npos);
}

CAF_TEST(fault injection and the largeffn baseline are options) {
  node_config cfg;
  auto err = parse(cfg, "[server]\nfail-rate=0.1\noptimizer=\"sgd\"\n[trainer]\nmodel=\"largeffn\"\n",
                   {"--moe.compression=float16"});
  CAF_REQUIRE_EQUAL(describe(err), "no error");
  CAF_CHECK_EQUAL(cfg.server.fail_rate, 0.1);
  CAF_CHECK(cfg.trainer.model == model_kind::largeffn);
  CAF_CHECK(cfg.server.optimizer == optimizer_kind::sgd);
  CAF_CHECK(cfg.moe.compression == compression_kind::float16);
  node_config defaults;
  CAF_REQUIRE_EQUAL(describe(parse(defaults, "")), "no error");
  CAF_CHECK_EQUAL(defaults.server.fail_rate, 0.0);
  CAF_CHECK(defaults.trainer.model == model_kind::dmoe);
}

CAF_TEST(every declared default is accepted as a value and shown in the help) {
  node_config reference;
  auto help = reference.help_text();
  std::vector<std::string> args;
  size_t options = 0;
  for (const auto& doc : reference.declared_options()) {
    ++options;
    CHECK_SAYING(!doc.help.empty(), doc.group << "." << doc.name << " has no help");
    CHECK_SAYING(help.find("--" + doc.group + "." + doc.name + "  (") != std::string::npos,
                      doc.group << "." << doc.name << " is missing from --help");
    args.push_back("--" + doc.group + "." + doc.name + "=" + doc.default_value);
  }
  CAF_CHECK_GREATER(options, 90u);
  node_config cfg;
  CAF_CHECK_EQUAL(describe(cfg.parse_and_validate(args)), "no error");
}

CAF_TEST(the shipped config files set only what differs from the defaults) {
  node_config reference;
  auto default_of = [&](const std::string& group, const std::string& key) -> std::string {
    for (const auto& doc : reference.declared_options())
      if (doc.group == group && doc.name == key)
        return doc.default_value;
    return {};
  };
  for (auto name : {"dht-bootstrap.ini", "dht-node.ini", "server.ini", "trainer.ini",
                    "lm-trainer.ini"}) {
    auto path = std::string{DMOE_SOURCE_DIR "/configs/"} + name;
    node_config from_file;
    CAF_REQUIRE_EQUAL(describe(from_file.parse_and_validate({"--config-file=" + path})),
                      "no error");
    auto raw = caf::actor_system_config::parse_config_file(path.c_str());
    CAF_REQUIRE(raw);
    for (const auto& [group, keys] : *raw) {
      for (const auto& [key, value] : caf::get<caf::settings>(keys)) {
        auto fallback = default_of(group, key);
        if (fallback.empty())
          continue;  // CAF's own groups (middleman): their defaults are CAF's or node_config's
        node_config defaults;
        auto full = group + "." + key;
        CAF_REQUIRE_EQUAL(describe(defaults.parse_and_validate({"--" + full + "=" + fallback})),
                          "no error");
        auto set = caf::get_if(&from_file.content, full);
        auto fresh = caf::get_if(&defaults.content, full);
        CAF_REQUIRE(set != nullptr && fresh != nullptr);
        CHECK_SAYING(caf::to_string(*set) != caf::to_string(*fresh),
                     name << " sets " << full << " to its default");
      }
    }
  }
}

CAF_TEST(docs/config.md is what the declarations generate) {
  node_config cfg;
  std::ifstream file{DMOE_SOURCE_DIR "/docs/config.md"};
  CAF_REQUIRE(file.good());
  std::string text{std::istreambuf_iterator<char>{file}, std::istreambuf_iterator<char>{}};
  CHECK_SAYING(text == cfg.config_reference(),
                    "docs/config.md is stale: run "
                    "build/apps/dmoe-node --config-reference > docs/config.md");
}

CAF_TEST(a syntax error and a missing file are errors) {
  node_config cfg;
  CAF_CHECK(parse(cfg, "[dht]\nk=\n") != caf::none);
  node_config cfg2;
  CAF_CHECK(cfg2.parse_and_validate(std::vector<std::string>{"--config-file=/nonexistent.ini"})
            != caf::none);
}
