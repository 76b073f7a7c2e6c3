// Control messages from other nodes. CAF 0.17's defaults let any peer stop an actor: an exit
// message with a non-normal reason and any error message make it quit, a down message is taken
// at its word whatever actor it names, and unexpected messages are printed to stdout.
// guard_control() installs handlers that
//   - obey an exit message only when a local actor sent it about itself (a link, send_exit) or
//     it has no sender at all (anon_send_exit in this process: runtime/wire_guard drops
//     anonymous messages from the network); any other is logged with the sender's node and
//     ignored;
//   - ignore (and log) an error message from another node or without a sender; a local one
//     quits, as CAF's default;
//   - answer an unexpected message with sec::unexpected_message, logging the first ones, and
//     drop down messages (actors that monitor others set their own down handler afterwards).
// Down handlers check genuine_down() first: CAF's own down messages come from the actor they
// report on; a forged one (any peer can fill in any source) does not.
#pragma once

#include <memory>

#include <caf/scheduled_actor.hpp>
#include <caf/system_messages.hpp>
#include <spdlog/logger.h>

namespace dmoe {

void guard_control(caf::scheduled_actor* self, std::shared_ptr<spdlog::logger> log);

/// Whether `self` acts on `msg` (the rule above); logs the ones it does not.
bool obeys_exit(caf::scheduled_actor* self, const caf::exit_msg& msg, spdlog::logger& log);

/// Whether `msg` comes from the actor it reports on; logs the ones that do not.
bool genuine_down(caf::scheduled_actor* self, const caf::down_msg& msg, spdlog::logger& log);

}  // namespace dmoe
