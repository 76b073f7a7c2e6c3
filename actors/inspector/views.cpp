#include "actors/inspector/views.hpp"

#include <map>

#include <fmt/format.h>

#include "actors/dht/node_id.hpp"
#include "actors/dht/ownership.hpp"
#include "messages/declaration.hpp"

namespace dmoe::inspector {

namespace {

template <class T>
void take(std::optional<T>& into, const std::optional<T>& from) {
  if (!into && from)
    into = from;
}

std::string load_text(const expert_row& row) {
  std::vector<std::string> parts;
  if (row.requests)
    parts.push_back(fmt::format("{} req", *row.requests));
  if (row.samples)
    parts.push_back(fmt::format("{} samples", *row.samples));
  if (row.queue)
    parts.push_back(fmt::format("queue {}", *row.queue));
  if (row.calls)
    parts.push_back(fmt::format("{} calls", *row.calls));
  if (parts.empty())
    return row.declared ? "declared" : "-";
  return fmt::format("{}", fmt::join(parts, ", "));
}

std::string failures_text(const expert_row& row) {
  if (row.failures && row.errors)
    return fmt::format("router {}, server {}", *row.failures, *row.errors);
  if (row.failures)
    return std::to_string(*row.failures);
  if (row.errors)
    return std::to_string(*row.errors);
  return "-";
}

}  // namespace

std::vector<expert_row> server_rows(const server_stats& stats,
                                    const std::string& fallback_endpoint) {
  auto endpoint = stats.endpoint.empty() ? fallback_endpoint : stats.endpoint;
  std::vector<expert_row> out;
  for (const auto& x : stats.experts) {
    expert_row row;
    row.id = x.id;
    row.server = endpoint;
    row.requests = x.requests;
    row.samples = x.samples;
    row.queue = x.queue;
    row.errors = x.errors;
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<expert_row> router_rows(const moe::router_stats& stats) {
  std::vector<expert_row> out;
  for (const auto& x : stats.experts) {
    expert_row row;
    row.id = x.id;
    row.server = x.server;
    row.calls = x.calls;
    row.failures = x.failures;
    row.latency_ms = x.latency_ms;
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<expert_row> merge_rows(const std::vector<std::vector<expert_row>>& sources) {
  std::map<std::pair<std::string, std::string>, expert_row> merged;
  for (const auto& rows : sources)
    for (const auto& row : rows) {
      auto [i, added] = merged.try_emplace({row.id, row.server}, row);
      if (added)
        continue;
      auto& into = i->second;
      take(into.requests, row.requests);
      take(into.samples, row.samples);
      take(into.queue, row.queue);
      take(into.errors, row.errors);
      take(into.calls, row.calls);
      take(into.failures, row.failures);
      take(into.latency_ms, row.latency_ms);
      into.declared = into.declared || row.declared;
    }
  std::vector<expert_row> out;
  for (auto& entry : merged)
    out.push_back(std::move(entry.second));
  return out;
}

std::string experts_text(const std::vector<expert_row>& rows,
                         const std::vector<std::string>& notes) {
  std::string out;
  if (rows.empty()) {
    out = "no experts found\n";
  } else {
    std::vector<std::vector<std::string>> cells;
    for (const auto& row : rows)
      cells.push_back({row.id, row.server, load_text(row),
                       row.latency_ms ? fmt::format("{:.1f} ms", *row.latency_ms) : "-",
                       failures_text(row)});
    out = render_table({"ID", "SERVER", "LOAD", "LATENCY", "FAILURES"}, cells);
    out += fmt::format("{} expert(s)\n", rows.size());
  }
  for (const auto& note : notes)
    out += note + "\n";
  return out;
}

std::string nodes_text(const std::string& name, const std::string& endpoint,
                       const dht::node_stats* dht_stats) {
  auto where = endpoint.empty() ? std::string{"(no endpoint)"} : endpoint;
  if (dht_stats == nullptr)
    return fmt::format("this node: {} at {} (no DHT role)\n", name, where);
  const auto& contacts = dht_stats->contacts;
  auto out = fmt::format("this node: {} at {}, DHT id {}, {} items under {} keys\n", name, where,
                         dht_stats->id, dht_stats->items, dht_stats->keys);
  if (contacts.empty())
    return out + "no DHT contacts\n";
  std::vector<std::vector<std::string>> cells;
  for (const auto& c : contacts)
    cells.push_back({c.id, c.endpoint, std::to_string(c.failures)});
  out += fmt::format("{} DHT contact(s):\n", contacts.size());
  return out + render_table({"ID", "ENDPOINT", "FAILURES"}, cells);
}

std::string trainer_text(const trainer_metrics& stats) {
  return render_settings(to_settings(stats), 0,
                         {"step", "loss", "train_accuracy", "samples_per_s", "failed_steps"});
}

std::string dht_items_text(const std::string& key, const std::vector<dht::item>& items,
                           double now, uint32_t rounds, uint32_t requests) {
  auto lookup = fmt::format("(lookup: {} rounds, {} requests)\n", rounds, requests);
  if (items.empty())
    return fmt::format("no unexpired items under '{}' {}", key, lookup);
  std::vector<std::vector<std::string>> cells;
  auto id = dht::key_id(key);
  for (const auto& x : items) {
    auto parts = dht::parse_subkey(x.subkey);
    std::string label = parts ? std::string{parts->label} : x.subkey;
    std::string owner = "-";  // plain: no owner, routers ignore it
    if (!parts)
      owner = "malformed";
    else if (parts->owner)
      owner = x.subkey.substr(x.subkey.size() - 2 * dht::public_key_bytes, 12)
              + (dht::is_verified_owned(id, x) ? " (signed)" : " (FORGED)");
    cells.push_back({label.empty() ? "(value)" : label, owner, printable_value(x.value),
                     fmt::format("{:.0f} s", x.expiration - now)});
  }
  return render_table({"SUBKEY", "OWNER", "VALUE", "EXPIRES IN"}, cells)
         + fmt::format("{} item(s) under '{}' {}", items.size(), key, lookup);
}

}  // namespace dmoe::inspector
