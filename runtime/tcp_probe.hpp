// A bounded TCP connect, used before asking CAF's middleman to dial an address: the middleman's
// own connect blocks its thread until the kernel gives up (about two minutes for an address that
// drops packets), which would stall every other connect of the process.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/error.hpp>

namespace dmoe {

/// Connects to host:port and closes again; an error (errc::unavailable) says why it failed or
/// that it took longer than `timeout`. Resolves names with getaddrinfo (IPv4).
caf::error tcp_probe(const std::string& host, uint16_t port, std::chrono::milliseconds timeout);

}  // namespace dmoe
