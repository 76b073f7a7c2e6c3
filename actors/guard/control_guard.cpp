#include "actors/guard/control_guard.hpp"

#include <caf/actor_cast.hpp>
#include <caf/node_id.hpp>

#include "messages/errors.hpp"

namespace dmoe {

namespace {

/// Unexpected messages logged per actor before the rest go to the debug level.
constexpr size_t logged_unexpected = 20;
/// Characters of an unexpected message that get into the log.
constexpr size_t logged_chars = 200;

std::string node_of(const caf::strong_actor_ptr& sender) {
  return sender ? to_string(sender->node()) : "no sender";
}

}  // namespace

bool obeys_exit(caf::scheduled_actor* self, const caf::exit_msg& msg, spdlog::logger& log) {
  const auto& sender = self->current_sender();
  if (!sender)
    return true;
  if (sender->node() == self->node() && caf::actor_cast<caf::actor_addr>(sender) == msg.source)
    return true;
  log.warn("ignored an exit message ({}) from {}", describe(msg.reason), node_of(sender));
  return false;
}

bool genuine_down(caf::scheduled_actor* self, const caf::down_msg& msg, spdlog::logger& log) {
  const auto& sender = self->current_sender();
  if (sender && caf::actor_cast<caf::actor_addr>(sender) == msg.source)
    return true;
  log.warn("ignored a down message about another actor from {}", node_of(sender));
  return false;
}

void guard_control(caf::scheduled_actor* self, std::shared_ptr<spdlog::logger> log) {
  self->set_exit_handler([log](caf::scheduled_actor* self, caf::exit_msg& msg) {
    if (obeys_exit(self, msg, *log) && msg.reason)
      self->quit(std::move(msg.reason));
  });
  self->set_error_handler([log](caf::scheduled_actor* self, caf::error& err) {
    const auto& sender = self->current_sender();
    if (sender && sender->node() == self->node()) {
      self->quit(std::move(err));
      return;
    }
    log->warn("ignored an error message ({}) from {}", describe(err), node_of(sender));
  });
  // CAF's default prints a down message nobody asked for to stdout; actors that monitor others
  // set their own down handler after this one.
  self->set_down_handler([log](caf::scheduled_actor* self, caf::down_msg&) {
    log->debug("ignored a down message from {}", node_of(self->current_sender()));
  });
  auto seen = std::make_shared<size_t>(0);
  self->set_default_handler(
    [log, seen](caf::scheduled_actor* self, caf::message_view& msg) -> caf::result<caf::message> {
      auto level = ++*seen <= logged_unexpected ? spdlog::level::warn : spdlog::level::debug;
      auto text = msg.content().stringify();
      if (text.size() > logged_chars)
        text = text.substr(0, logged_chars) + "...";
      log->log(level, "unexpected message {} from {}", text, node_of(self->current_sender()));
      if (*seen == logged_unexpected)
        log->warn("further unexpected messages are logged at the debug level");
      return caf::sec::unexpected_message;
    });
}

}  // namespace dmoe
