#include <algorithm>
#include <cmath>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "actors/dht/node.hpp"
#include "actors/inspector/expert_walk.hpp"
#include "actors/inspector/inspector_state.hpp"
#include "actors/inspector/views.hpp"
#include "messages/expert_id.hpp"
#include "messages/type_ids.hpp"

namespace dmoe::inspector {

namespace {

role_list present_roles(const inspector_setup& s) {
  role_list out;
  for (auto& [name, role] : role_list{{"dht", s.dht}, {"server", s.server},
                                      {"router", s.router}, {"trainer", s.trainer}})
    if (role)
      out.emplace_back(name, role);
  return out;
}

}  // namespace

void nodes_cmd(inspector_stateful* self, const words&, text_promise rp) {
  const auto& s = self->state.setup;
  if (!s.dht)
    return reply(rp, nodes_text(s.node_name, s.endpoint, nullptr));
  ask_stats(self, {{"DHT", s.dht}}, [self, rp](auto replies) mutable {
    const auto& s = self->state.setup;
    auto& stats = replies[0].second;
    if (!stats)
      return reply(rp, role_failed(s, "DHT", stats.error()));
    rp.deliver(nodes_text(s.node_name, s.endpoint, &*stats));
  });
}

void experts_cmd(inspector_stateful* self, const words& args, text_promise rp) {
  const auto& s = self->state.setup;
  if (!s.server && !s.router && !s.dht)
    return reply(rp, missing_role("server, router or DHT to list experts from"));
  auto grids = args.empty() ? words{s.default_grid} : args;
  for (const auto& grid : grids)
    if (!is_valid_expert_id(grid + ".0"))
      return reply(rp, make_error(errc::invalid_argument, "'" + grid + "' is no grid name"));
  role_list roles;
  if (s.server)
    roles.emplace_back("server", s.server);
  if (s.router)
    roles.emplace_back("router", s.router);
  ask_stats(self, roles, [self, rp, grids, filter = !args.empty()](auto replies) mutable {
    const auto& s = self->state.setup;
    auto sources = std::make_shared<std::vector<std::vector<expert_row>>>();
    auto notes = std::make_shared<words>();
    for (auto& [role, stats] : replies) {
      if (!stats) {
        notes->push_back(describe(role_failed(s, role, stats.error())));
        continue;
      }
      if (role == "server") {
        sources->push_back(server_rows(*stats, s.endpoint));
        continue;
      }
      sources->push_back(router_rows(*stats));
      auto dead = text_list_entry(*stats, "dead_servers");
      if (!dead.empty())
        notes->push_back(fmt::format("dead servers: {}", fmt::join(dead, ", ")));
    }
    auto finish = [rp, sources, notes, grids, filter]() mutable {
      auto rows = merge_rows(*sources);
      if (filter)
        rows.erase(std::remove_if(rows.begin(), rows.end(),
                                  [&](const expert_row& row) {
                                    auto name = std::string{grid_name(row.id)};
                                    return std::find(grids.begin(), grids.end(), name)
                                           == grids.end();
                                  }),
                   rows.end());
      rp.deliver(experts_text(rows, *notes));
    };
    if (s.router || !s.dht)
      return finish();
    walk_declared_experts(self, s.dht, grids, s.request_timeout,
                          [sources, notes, finish](walk_result found) mutable {
                            std::vector<expert_row> declared;
                            for (const auto& [id, servers] : found.experts)
                              for (const auto& server : servers)
                                declared.push_back(expert_row{id, server, {}, {}, {}, {}, {}, {},
                                                              {}, true});
                            sources->push_back(std::move(declared));
                            notes->insert(notes->end(), found.problems.begin(),
                                          found.problems.end());
                            if (found.truncated)
                              notes->push_back(fmt::format(
                                "(stopped after {} DHT lookups)", found.lookups));
                            finish();
                          });
  });
}

void dht_get_cmd(inspector_stateful* self, const words& args, text_promise rp) {
  const auto& s = self->state.setup;
  if (!s.dht)
    return reply(rp, missing_role("DHT"));
  auto key = args[0];
  self->request(s.dht, s.request_timeout, dht::dht_get_atom::value, key)
    .then(
      [self, rp, key](payload& answer, uint32_t rounds, uint32_t requests) mutable {
        auto decoded = dht::decode_response(answer);
        if (!decoded)
          return reply(rp, decoded.error());
        if (auto* err = std::get_if<caf::error>(&decoded->body))
          return reply(rp, *err);
        auto* found = std::get_if<dht::find_value_result>(&decoded->body);
        if (found == nullptr)
          return reply(rp, make_error(errc::malformed, "the DHT answered a get with no items"));
        rp.deliver(dht_items_text(key, found->items, now_of(self->state.setup), rounds, requests));
      },
      [self, rp](caf::error& err) mutable {
        rp.deliver(role_failed(self->state.setup, "DHT", err));
      });
}

void dht_store_cmd(inspector_stateful* self, const words& args, text_promise rp) {
  const auto& s = self->state.setup;
  if (!s.dht)
    return reply(rp, missing_role("DHT"));
  double ttl = 0;
  size_t used = 0;
  try {
    ttl = std::stod(args[3], &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != args[3].size() || !std::isfinite(ttl) || ttl <= 0)
    return reply(rp, make_error(errc::invalid_argument,
                                "TTL_SECONDS must be a positive number, not '" + args[3] + "'"));
  auto key = args[0];
  self->state.log->info("shell stores '{}' / '{}' for {} s", key, args[1], ttl);
  self->request(s.dht, s.request_timeout, dht::dht_store_atom::value, key, args[1], args[2],
                now_of(s) + ttl)
    .then(
      [rp, key, ttl](uint32_t replicas, uint32_t rounds, uint32_t requests) mutable {
        rp.deliver(fmt::format("stored under '{}' on {} node(s) for {} s (lookup: {} rounds, {} "
                               "requests)\n",
                               key, replicas, ttl, rounds, requests));
      },
      [self, rp](caf::error& err) mutable {
        rp.deliver(role_failed(self->state.setup, "DHT", err));
      });
}

void stats_cmd(inspector_stateful* self, const words&, text_promise rp) {
  ask_stats(self, present_roles(self->state.setup), [self, rp](auto replies) mutable {
    const auto& s = self->state.setup;
    auto out = fmt::format("[inspector]\n  node: {}\n  endpoint: {}\n  control: {}\n", s.node_name,
                           s.endpoint, s.options.allow_control ? "allowed" : "read-only");
    for (auto& [role, stats] : replies) {
      out += "[" + role + "]\n";
      out += stats ? render_settings(*stats, 2)
                   : "  unavailable: " + describe(role_failed(s, role, stats.error())) + "\n";
    }
    rp.deliver(std::move(out));
  });
}

void trainers_cmd(inspector_stateful* self, const words&, text_promise rp) {
  const auto& s = self->state.setup;
  if (!s.trainer)
    return reply(rp, missing_role("trainer"));
  ask_stats(self, {{"trainer", s.trainer}}, [self, rp](auto replies) mutable {
    auto& stats = replies[0].second;
    if (!stats)
      return reply(rp, role_failed(self->state.setup, "trainer", stats.error()));
    rp.deliver("trainer on " + self->state.setup.node_name + ":\n" + trainer_text(*stats));
  });
}

}  // namespace dmoe::inspector
