// A swarm's keys, with OpenSSL 3: the swarm's certificate authority (its "swarm key", kept by
// the swarm's operator) and the node certificates it issues to members. All keys are EC P-256,
// signatures SHA-256. Written as PEM files; private keys readable by their owner only.
//   DIR/ca.pem, DIR/ca.key                   create_swarm_ca(DIR)
//   OUT/NAME.pem, OUT/NAME.key, OUT/ca.pem   issue_node_certificate(DIR, NAME, OUT)
// A node certificate names the node (CN=NAME), may not sign others (CA:FALSE) and serves both
// ends of a connection (extended key usage serverAuth and clientAuth): TLS between members is
// mutual.
#pragma once

#include <string>

#include <caf/error.hpp>

namespace dmoe {

constexpr int default_ca_days = 3650;
constexpr int default_node_days = 365;

/// Creates DIR (if needed) with a new CA key and its self-signed certificate; refuses to
/// overwrite an existing ca.key.
caf::error create_swarm_ca(const std::string& dir, int days = default_ca_days);

/// Issues a certificate for node NAME signed by the CA in `ca_dir`, with a new key, into
/// `out_dir` (created if needed), next to a copy of the CA's certificate.
caf::error issue_node_certificate(const std::string& ca_dir, const std::string& name,
                                  const std::string& out_dir, int days = default_node_days);

/// Whether `certificate_file` was issued by the CA of `ca_file` and is valid now (for the TLS
/// client and server purposes); the reason when not.
caf::error verify_node_certificate(const std::string& ca_file, const std::string& certificate_file);

}  // namespace dmoe
