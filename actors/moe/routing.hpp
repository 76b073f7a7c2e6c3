// Where the router's jobs send their rows, as pure logic (no actors, no LibTorch, no clock: time
// is passed in as seconds since the epoch). The router feeds a job's route what arrives (DHT
// answers, call outcomes) and carries out what it returns (keys to look up, calls to send,
// servers to probe); it keeps only the I/O: the cache, the lookups, encoding, sending, timers.
//
// A forward route goes through three phases:
//   searching: the beam search, one grid dimension per round of prefix lookups ("ffn.", then
//              "ffn.3.", ...), for the best k_best + spares live experts of every sample;
//   choosing:  the last round's declarations name each expert's replicas (the servers whose
//              declaration under its parent prefix lists it); each sample keeps the ranked
//              experts that have a live replica, its first k_best fill its slots, the rest are
//              spares; one call per expert (its best replica) carries the rows routed to it;
//   calling:   an answer fills its slots; a call that fails moves each of its slots to that
//              sample's next spare with a live replica; rows beyond a server's batch limit
//              are split into several calls. Progress against k_min is a quorum (quorum.hpp).
// Every call a route returns (calls, ask_limit, backward_calls) is counted in flight in the
// server book at once, so the next pick, even for another expert of the same round, sees it;
// the router reports each call's end (server_book::call_finished). A dead server that declared
// again is only probed meanwhile (probes): once a probe revives it, it is picked again, from
// the next job on.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/moe/beam_search.hpp"
#include "actors/moe/dht_cache.hpp"
#include "actors/moe/quorum.hpp"
#include "actors/moe/server_book.hpp"
#include "messages/dht_codec.hpp"

namespace dmoe::moe {

/// Rows of one batch sent to one expert at one server: a call to send, or one that answered.
struct routed_call {
  std::string expert_id;
  std::string server;          // endpoint of the replica called
  std::vector<int64_t> rows;   // sample indices in the batch
  std::vector<int64_t> slots;  // for each row, its slot among the sample's k_best
};

/// What the router does next for a job.
struct route_actions {
  std::vector<std::string> lookups;       // DHT keys to look up, then lookups_done()
  std::vector<routed_call> calls;         // expert calls to send (already counted as out)
  std::vector<std::string> probes;        // dead servers that declared again: try to connect
  std::optional<routed_call> ask_limit;   // ask this call's server its batch limit; rows stay out
};

struct route_rules {
  size_t k_best = 0;
  size_t spares = 0;  // ranked experts per sample beyond k_best, for rerouting
  size_t k_min = 0;
  bool shortfall_ends_job = true;  // a sample short of k_min fails the job (no allow_zero_outputs)
};

/// A batch limit a server gave after refusing `rows` rows as too many helps only if it is
/// non-zero and smaller.
inline bool batch_limit_usable(uint64_t limit, size_t rows) {
  return limit > 0 && limit < rows;
}

class forward_route {
public:
  forward_route() = default;

  /// `grid`: the grid's name ("ffn"); `sample_scores[b][d][c]`: sample b's gating score of
  /// coordinate c in dimension d.
  forward_route(std::string grid, std::vector<std::vector<std::vector<float>>> sample_scores,
                route_rules rules);

  /// The first round of lookups.
  route_actions start();

  /// A lookup's answer for this job (its declarations; expired ones are skipped when read). A
  /// key whose lookup failed may stay unanswered: it reads as empty.
  void found(const std::string& key, std::vector<declared> items);

  /// Every key of the last round is answered (or given up): the next round of lookups, or,
  /// after the last, the calls.
  route_actions lookups_done(double now, server_book& servers);

  /// A call answered: its slots are filled.
  void answered(const routed_call& call);

  /// A call ended without an answer: its slots move to their samples' spares.
  route_actions failed(const routed_call& call, double now, server_book& servers);

  /// The server refused a call's rows as too many: while its limit is unknown and the call
  /// carries more than one row, ask the server (ask_limit); else it failed.
  route_actions too_many_rows(const routed_call& call, double now, server_book& servers);

  /// The server's batch limit is now known (servers.batch_limit): the call's rows go to the
  /// same expert again, split to fit.
  route_actions resend(const routed_call& call, double now, server_book& servers);

  quorum::step next() {
    return progress_.next();
  }
  size_t below_k_min() const {
    return progress_.below_k_min();
  }
  size_t samples() const {
    return samples_.size();
  }

  /// True once the calls were chosen (the lookups are over).
  bool routed() const {
    return phase_ == phase::calling;
  }

  /// The expert that answered sample `sample`'s slot `slot`; nullptr when none did.
  const grid_coords* answered_expert(size_t sample, size_t slot) const;

  size_t calls_sent() const {
    return calls_sent_;
  }
  size_t rerouted() const {
    return rerouted_;
  }

private:
  enum class phase { searching, choosing, calling };

  struct sample_route {
    std::vector<scored_expert> ranked;  // live experts, best first
    std::vector<int64_t> slot_expert;   // per slot: index into ranked, -1 when none
    std::vector<bool> slot_answered;
    size_t next_spare = 0;              // index into ranked of the next unused expert
  };

  route_actions next_search_round();
  void expand_beams(double now);
  route_actions choose_calls(double now, server_book& servers);
  /// The best live replica of `expert_id` at `now`; "" when none. Dead servers seen declaring
  /// again are added to `out.probes`.
  std::string replica_for(const std::string& expert_id, double now, server_book& servers,
                          route_actions& out) const;
  /// Rows and their slots per expert, in expert-id order.
  struct expert_rows {
    std::vector<int64_t> rows;
    std::vector<int64_t> slots;
  };
  using rows_by_expert = std::map<std::string, expert_rows>;

  /// send() for each expert's rows.
  void send_each(rows_by_expert groups, double now, server_book& servers, route_actions& out);
  /// Calls `expert_id` for these rows at its best replica, split to its server's batch limit;
  /// without a live replica the rows are rerouted.
  void send(const std::string& expert_id, std::vector<int64_t> rows, std::vector<int64_t> slots,
            double now, server_book& servers, route_actions& out);
  void reroute(const std::vector<int64_t>& rows, const std::vector<int64_t>& slots, double now,
               server_book& servers, route_actions& out);

  std::string grid_;
  route_rules rules_;
  phase phase_ = phase::searching;
  std::vector<beam_search> beams_;  // per sample, until the calls are chosen
  std::vector<sample_route> samples_;
  std::unordered_map<std::string, std::vector<declared>> lookups_;
  quorum progress_;
  size_t calls_sent_ = 0;
  size_t rerouted_ = 0;
};

/// The backward calls of a forward's answered calls: one per call, skipping servers that died
/// since (their samples get no gradient from them).
std::vector<routed_call> backward_calls(const std::vector<routed_call>& answered,
                                        server_book& servers);

}  // namespace dmoe::moe
