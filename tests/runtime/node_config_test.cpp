#define CAF_SUITE runtime.node_config
#include <caf/test/unit_test.hpp>

#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "runtime/node_config.hpp"

using namespace dmoe;

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
  node_config bad;  // anything else after '=' is still an error naming the argument
  auto bad_err = parse(bad, "", {"--trainer.progress=yes"});
  CAF_CHECK_NOT_EQUAL(describe(bad_err).find("--trainer.progress=yes"), std::string::npos);
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

CAF_TEST(values out of range are rejected) {
  for (auto text : {"[node]\nroles=[\"dht\", \"chef\"]\n", "[node]\nlog-level=\"loud\"\n",
                    "[dht]\nk=0\n", "[dht]\nalpha=50\n", "[dht]\nbootstrap=[\"nohost\"]\n",
                    "[dht]\nbootstrap=[\"h:70000\"]\n", "[limits]\nnan-policy=\"maybe\"\n",
                    "[dht]\nrequest-timeout=0s\n", "[node]\nroles=[\"server\"]\n",
                    "[server]\noptimizer=\"lbfgs\"\n", "[server]\nhidden=0\n",
                    "[server]\ndeclare-ttl=1s\n", "[moe]\nk-min=9\n", "[moe]\ngrid=[]\n",
                    "[trainer]\nbatch-size=0\n", "[server]\nexpert-pattern=\"ffn.[3:1]\"\n",
                    "[server]\nexpert-pattern=\"ffn.[0:2]\"\nnum-experts=3\n", "[trainer]\nlearning-rate=-1.0\n",
                    "[server]\nfail-rate=1.5\n", "[server]\nfail-rate=-0.1\n",
                    "[trainer]\nmodel=\"cnn\"\n", "[trainer]\naccumulate=0\n",
                    "[trainer]\naccumulate=257\n", "[server]\naccumulate-samples=1048577\n",
                    "[server]\nmax-tokens=0\n", "[server]\noutlier-factor=0.5\n",
                    "[server]\npeer-request-rate=-1.0\n", "[server]\npeer-update-burst=100.0\n",
                    "[server]\npeer-request-burst=0.0\n", "[server]\nmax-queued-mb=1048577\n"}) {
    node_config cfg;
    auto err = parse(cfg, text);
    CAF_CHECK_EQUAL(code_of(err), errc::invalid_argument);
    CAF_MESSAGE(describe(err));
  }
}

CAF_TEST(fault injection and the largeffn baseline are options) {
  node_config cfg;
  auto err = parse(cfg, "[server]\nfail-rate=0.1\n[trainer]\nmodel=\"largeffn\"\n");
  CAF_REQUIRE_EQUAL(describe(err), "no error");
  CAF_CHECK_EQUAL(cfg.server.fail_rate, 0.1);
  CAF_CHECK_EQUAL(cfg.trainer.model, "largeffn");
  node_config defaults;
  CAF_REQUIRE_EQUAL(describe(parse(defaults, "")), "no error");
  CAF_CHECK_EQUAL(defaults.server.fail_rate, 0.0);
  CAF_CHECK_EQUAL(defaults.trainer.model, "dmoe");
}

CAF_TEST(a syntax error and a missing file are errors) {
  node_config cfg;
  CAF_CHECK(parse(cfg, "[dht]\nk=\n") != caf::none);
  node_config cfg2;
  CAF_CHECK(cfg2.parse_and_validate(std::vector<std::string>{"--config-file=/nonexistent.ini"})
            != caf::none);
}
