#include "actors/inspector/inspector.hpp"

#include <algorithm>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "actors/guard/control_guard.hpp"
#include "actors/inspector/command_line.hpp"
#include "actors/inspector/inspector_state.hpp"
#include "messages/type_ids.hpp"
#include "runtime/logging.hpp"
#include "runtime/wire_guard.hpp"

namespace dmoe {

namespace {

using namespace inspector;

struct command {
  std::vector<std::string> name;  // "dht", "get"
  const char* usage;
  const char* help;
  bool control;
  size_t min_args, max_args;
  void (*run)(inspector_stateful*, const words& args, text_promise rp);
};

const std::vector<command>& commands();

void help_cmd(inspector_stateful* self, const words&, text_promise rp) {
  std::vector<std::vector<std::string>> rows;
  bool control = self->state.setup.options.allow_control;
  for (const auto& c : commands())
    rows.push_back({c.usage, c.control && !control ? std::string{c.help} + " (disabled: read-only)"
                                                   : std::string{c.help}});
  rp.deliver(render_table({"COMMAND", "WHAT IT DOES"}, rows));
}

const std::vector<command>& commands() {
  static const std::vector<command> all{
    {{"help"}, "help", "list the commands", false, 0, 0, help_cmd},
    {{"nodes"}, "nodes", "this node and its DHT contacts", false, 0, 0, nodes_cmd},
    {{"experts"}, "experts [NAME...]", "experts with server, load, latency, failures", false, 0,
     16, experts_cmd},
    {{"dht", "get"}, "dht get KEY", "the unexpired items under KEY", false, 1, 1, dht_get_cmd},
    {{"stats"}, "stats", "every role's stats", false, 0, 0, stats_cmd},
    {{"trainers"}, "trainers", "the trainer's progress", false, 0, 0, trainers_cmd},
    {{"dht", "store"}, "dht store KEY SUBKEY VALUE TTL_SECONDS",
     "store an item in the DHT (control)", true, 4, 4, dht_store_cmd},
  };
  return all;
}

const command* find_command(const words& w) {
  for (const auto& c : commands())
    if (w.size() >= c.name.size() && std::equal(c.name.begin(), c.name.end(), w.begin()))
      return &c;
  return nullptr;
}

/// Why `w` names no command: an unknown word, or a group ("dht") without its subcommand.
caf::error no_such_command(const words& w) {
  std::vector<std::string> subcommands;
  for (const auto& c : commands())
    if (c.name.size() > 1 && c.name[0] == w[0])
      subcommands.push_back(c.name[1]);
  if (subcommands.empty())
    return make_error(errc::invalid_argument, "unknown command '" + w[0] + "'; try 'help'");
  return make_error(errc::invalid_argument,
                    fmt::format("'{}' needs one of: {}", w[0], fmt::join(subcommands, ", ")));
}

caf::error check_call(const inspector_state& st, const command& c, const words& w) {
  auto args = w.size() - c.name.size();
  if (args < c.min_args || args > c.max_args)
    return make_error(errc::invalid_argument, std::string{"usage: "} + c.usage);
  if (c.control && !st.setup.options.allow_control)
    return make_error(errc::invalid_argument,
                      "'" + fmt::format("{}", fmt::join(c.name, " ")) +
                        "' is a control command and this node's inspector is read-only "
                        "(set inspector.allow-control=true to allow it)");
  return {};
}

inspector_actor::behavior_type inspector_behavior(inspector_stateful* self, inspector_setup setup) {
  self->state.setup = std::move(setup);
  self->state.log = log::get(self->state.setup.name);
  self->state.lookups = peer_rates{self->state.setup.peer_lookup_rate,
                                   self->state.setup.peer_lookup_burst};
  guard_control(self, self->state.log);
  return {
    [self](inspect_atom, const std::string& line) -> caf::result<std::string> {
      auto w = split_words(line);
      if (!w)
        return w.error();
      if (w->empty())
        return make_error(errc::invalid_argument, "empty command; try 'help'");
      const auto* c = find_command(*w);
      if (c == nullptr)
        return no_such_command(*w);
      if (auto err = check_call(self->state, *c, *w)) {
        self->state.log->debug("refused '{}': {}", line, describe(err));
        return err;
      }
      // Before the promise, which takes the sender out of the message.
      self->state.caller = caller_identity(self);
      auto rp = self->make_response_promise<std::string>();
      c->run(self, words(w->begin() + c->name.size(), w->end()), rp);
      return rp;
    },
  };
}

}  // namespace

inspector_actor spawn_inspector(caf::actor_system& system, inspector_setup setup) {
  return system.spawn(inspector_behavior, std::move(setup));
}

}  // namespace dmoe
