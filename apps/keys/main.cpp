// dmoe-keys: a swarm's certificate authority and its members' certificates (runtime/swarm_keys).
//   dmoe-keys init DIR                                  the operator, once: DIR/ca.pem, DIR/ca.key
//   dmoe-keys issue --ca DIR --name NAME [--out OUT]    a certificate for the member NAME
//   dmoe-keys verify --ca CA.pem CERT.pem               is CERT a member's certificate of CA?
// Exit code 0 on success, 1 with a message on stderr otherwise.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "messages/errors.hpp"
#include "runtime/swarm_keys.hpp"

using namespace dmoe;

int main(int argc, char** argv) {
  CLI::App app{"dmoe-keys: a swarm's certificate authority and its members' certificates"};
  std::string dir, name, out, ca_file, certificate;
  int days = 0;
  auto* init = app.add_subcommand("init", "create the swarm's CA in DIR (ca.pem, ca.key)");
  init->add_option("dir", dir, "where the CA's files go")->required();
  init->add_option("--days", days, "validity (default 3650)")->check(CLI::PositiveNumber);
  auto* issue = app.add_subcommand("issue", "issue a certificate and key for one member");
  issue->add_option("--ca", dir, "the CA's directory (from init)")->required();
  issue->add_option("--name", name, "the member's name (NAME.pem, NAME.key)")->required();
  issue->add_option("--out", out, "where its files go (default: the CA's directory)");
  issue->add_option("--days", days, "validity (default 365)")->check(CLI::PositiveNumber);
  auto* verify = app.add_subcommand("verify", "check that a certificate was issued by a CA");
  verify->add_option("--ca", ca_file, "the CA's certificate (ca.pem)")->required();
  verify->add_option("certificate", certificate, "the certificate to check")->required();
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);

  caf::error err;
  if (*init) {
    err = create_swarm_ca(dir, days > 0 ? days : default_ca_days);
    if (!err)
      std::printf("swarm CA in %s: give ca.pem to every member, keep ca.key to yourself\n",
                  dir.c_str());
  } else if (*issue) {
    auto target = out.empty() ? dir : out;
    err = issue_node_certificate(dir, name, target, days > 0 ? days : default_node_days);
    if (!err)
      std::printf("%s/%s.pem and %s/%s.key (and ca.pem) for member '%s'\n", target.c_str(),
                  name.c_str(), target.c_str(), name.c_str(), name.c_str());
  } else {
    err = verify_node_certificate(ca_file, certificate);
    if (!err)
      std::printf("%s: a member certificate of %s\n", certificate.c_str(), ca_file.c_str());
  }
  if (err) {
    std::fprintf(stderr, "dmoe-keys: %s\n", describe(err).c_str());
    return 1;
  }
  return 0;
}
