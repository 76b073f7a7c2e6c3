#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>

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

role_list present_roles(inspector_stateful* self) {
  const auto& s = self->state.setup;
  role_list out;
  if (s.dht)
    out.push_back(query_of<dht::node_stats>(self, "dht", dht::node_stats_actor{s.dht}));
  if (s.server)
    out.push_back(query_of<server_stats>(self, "server", s.server));
  if (s.router)
    out.push_back(query_of<moe::router_stats>(self, "router", s.router));
  if (s.trainer)
    out.push_back(query_of<trainer_metrics>(self, "trainer", s.trainer));
  return out;
}

/// The server's and the router's stats for `experts`, each when the node runs that role.
struct expert_sources {
  std::optional<caf::expected<server_stats>> server;
  std::optional<caf::expected<moe::router_stats>> router;
  size_t missing = 0;
  std::function<void(expert_sources&)> done;

  void one_done() {
    if (--missing == 0)
      done(*this);
  }
};

void ask_expert_sources(inspector_stateful* self, std::function<void(expert_sources&)> done) {
  const auto& s = self->state.setup;
  auto g = std::make_shared<expert_sources>();
  g->missing = (s.server ? 1 : 0) + (s.router ? 1 : 0);
  g->done = std::move(done);
  if (g->missing == 0)
    return g->done(*g);
  if (s.server)
    ask_role<server_stats>(self, s.server, [g](caf::expected<server_stats> stats) {
      g->server = std::move(stats);
      g->one_done();
    });
  if (s.router)
    ask_role<moe::router_stats>(self, s.router, [g](caf::expected<moe::router_stats> stats) {
      g->router = std::move(stats);
      g->one_done();
    });
}

}  // namespace

void nodes_cmd(inspector_stateful* self, const words&, text_promise rp) {
  const auto& s = self->state.setup;
  if (!s.dht)
    return reply(rp, nodes_text(s.node_name, s.endpoint, nullptr));
  ask_role<dht::node_stats>(self, s.dht, [self, rp](caf::expected<dht::node_stats> stats) mutable {
    const auto& s = self->state.setup;
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
  ask_expert_sources(self, [self, rp, grids, filter = !args.empty(),
                            budget = caller_lookups(self)](expert_sources& got) mutable {
    const auto& s = self->state.setup;
    auto sources = std::make_shared<std::vector<std::vector<expert_row>>>();
    auto notes = std::make_shared<words>();
    if (got.server && !*got.server)
      notes->push_back(describe(role_failed(s, "server", got.server->error())));
    else if (got.server)
      sources->push_back(server_rows(**got.server, s.endpoint));
    if (got.router && !*got.router) {
      notes->push_back(describe(role_failed(s, "router", got.router->error())));
    } else if (got.router) {
      const auto& stats = **got.router;
      sources->push_back(router_rows(stats));
      if (!stats.dead_servers.empty())
        notes->push_back(fmt::format("dead servers: {}", fmt::join(stats.dead_servers, ", ")));
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
    walk_declared_experts(self, s.dht, grids, s.request_timeout, budget,
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
                                "(stopped after {} DHT lookups and {} experts)", found.lookups,
                                found.experts.size()));
                            finish();
                          });
  });
}

void dht_get_cmd(inspector_stateful* self, const words& args, text_promise rp) {
  const auto& s = self->state.setup;
  if (!s.dht)
    return reply(rp, missing_role("DHT"));
  if (!caller_lookups(self)())
    return reply(rp, over_lookup_rate(s));
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
  if (!caller_lookups(self)())
    return reply(rp, over_lookup_rate(s));
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
  ask_stats(present_roles(self), [self, rp](stats_replies replies) mutable {
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
  ask_role<trainer_metrics>(self, s.trainer, [self, rp](caf::expected<trainer_metrics> stats) mutable {
    if (!stats)
      return reply(rp, role_failed(self->state.setup, "trainer", stats.error()));
    rp.deliver("trainer on " + self->state.setup.node_name + ":\n" + trainer_text(*stats));
  });
}

}  // namespace dmoe::inspector
