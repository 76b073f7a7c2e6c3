// The node's requests to peers, its lookups, and its answers to peers.
#include <algorithm>

#include <caf/all.hpp>

#include "actors/dht/node_state.hpp"
#include "messages/type_ids.hpp"
#include "runtime/logging.hpp"

namespace dmoe::dht {

// -- requests to peers ----------------------------------------------------------------------------

void node_state::call(const node_info& peer, decltype(request::body) body, response_handler ok,
                      failure_handler fail) {
  auto failed = [this, peer, fail](const caf::error& err) {
    ++stats.requests_failed;
    if (peer.id != id160{} && table->failed(peer.id, options.max_failures)) {
      log->debug("dropped {} at {} after {} failures", short_hex(peer.id), peer.endpoint,
                 options.max_failures);
      rejoin_if_alone();
    }
    fail(err);
  };
  ++stats.requests_sent;
  // The responder signs the nonce: it proves it holds the key its node id derives from (a
  // stranger could copy a node's id and key into its answers, but not sign).
  std::string nonce(16, '\0');
  for (auto& c : nonce)
    c = static_cast<char>(rng() & 0xff);
  auto msg = encode(request{me, std::move(body), nonce});
  stats.bytes_sent += static_cast<int64_t>(msg.bytes.size());
  peers->resolve(peer.endpoint, [this, peer, msg = std::move(msg), nonce, ok = std::move(ok),
                                 failed](caf::expected<caf::actor> handle) mutable {
    if (!handle)
      return failed(handle.error());
    auto rpc = caf::actor_cast<rpc_actor>(std::move(*handle));  // dialed peers were checked for it
    self->request(rpc, options.request_timeout, dht_rpc_atom::value, std::move(msg))
      .then(
        [this, peer, nonce, ok, failed](payload& in) {
          stats.bytes_received += static_cast<int64_t>(in.bytes.size());
          auto resp = decode_response(in, codec);
          if (!resp)
            return failed(resp.error());
          if (peer.id != id160{} && resp->responder.id != peer.id)
            return failed(make_error(errc::invalid_argument, "peer at " + peer.endpoint
                                                               + " answered with another id"));
          if (!holds_its_id(resp->responder))
            return failed(make_error(errc::invalid_argument,
                                     "peer at " + peer.endpoint
                                       + " answered with an id not derived from its key"));
          ++stats.key_proofs_checked;
          if (!proves_key(*resp, nonce))
            return failed(make_error(errc::invalid_argument,
                                     "peer at " + peer.endpoint
                                       + " did not prove it holds the key of its id"));
          if (auto err = std::get_if<caf::error>(&resp->body))
            return failed(*err);
          saw(resp->responder);
          ok(*resp);
        },
        [failed](caf::error& err) { failed(err); });
  });
}

void node_state::saw(const node_info& who) {
  if (who.endpoint.empty())
    return;  // a client that is not part of the network
  auto result = table->seen(who, now());
  if (result.result == routing_table::outcome::pending && result.ping_candidate)
    ping_then_evict(*result.ping_candidate);
}

// Anyone can claim any id and endpoint in a request. Learning the claim as it stands would let
// a stranger point this node's table (and every lookup it answers) at a victim's address, or
// take a known node's place. The ping goes to the claimed endpoint itself, and call() accepts
// only an answer carrying the claimed id, which then enters the table.
void node_state::heard_from(const node_info& sender) {
  if (!holds_its_id(sender))
    return;  // a chosen id (node_id_of): it may not place itself in the id space
  // A known id claimed at another endpoint is ignored: pinging there and failing would count
  // against the real contact.
  if (auto known = table->find(sender.id)) {
    if (known->endpoint == sender.endpoint)
      saw(sender);
    return;
  }
  auto endpoint = sender.endpoint;
  auto verdict = claims.begin(endpoint, now());
  if (verdict != claim_checks::verdict::start) {
    if (verdict != claim_checks::verdict::under_way) {
      ++stats.claims_deferred;
      log->debug("not checking {} at {} now: {}", short_hex(sender.id), log::escaped(endpoint),
                 explain(verdict));
    }
    return;
  }
  ++stats.claims_checked;
  call(sender, ping_request{},
       [this, endpoint](response&) { claims.end(endpoint, true, now()); },
       [this, endpoint, id = sender.id](const caf::error& err) {
         // Only an endpoint nobody answers at is kept from being dialed again: a node answering
         // there with another id than a stranger claimed must still be learned at its own claim.
         auto code = code_of(err);
         claims.end(endpoint, code != errc::unavailable && code != errc::timeout, now());
         ++stats.claims_refused;
         log->debug("not learning {} at {}: {}", short_hex(id), log::escaped(endpoint),
                    describe(err));
       });
}

void node_state::ping_then_evict(const node_info& candidate) {
  if (!pinging.insert(candidate.id).second)
    return;
  call(candidate, ping_request{}, [this, id = candidate.id](response&) { pinging.erase(id); },
       [this, id = candidate.id](const caf::error&) {
         pinging.erase(id);
         table->remove(id);  // the newcomer waiting in the replacement cache takes its place
       });
}

// -- lookups --------------------------------------------------------------------------------------

namespace {

// A peer's list of contacts, without those whose ids are not derived from their keys (a lookup
// must not walk towards ids a peer made up).
std::vector<node_info> with_their_ids(std::vector<node_info> nodes) {
  nodes.erase(std::remove_if(nodes.begin(), nodes.end(),
                             [](const node_info& n) { return !holds_its_id(n); }),
              nodes.end());
  return nodes;
}

}  // namespace

void node_state::find(const id160& target, bool want_values,
                      std::function<void(lookup_run&)> on_done) {
  ++stats.lookups;
  table->touched(target, now());
  auto run = std::make_shared<lookup_run>(lookup_run{
    lookup{target, me.id, options.k, options.alpha, table->closest(target, options.k)},
    want_values, {}, false, std::move(on_done)});
  pump(run);
}

void node_state::pump(const std::shared_ptr<lookup_run>& run) {
  if (run->finished)
    return;
  if (run->search.done()) {
    run->finished = true;
    run->on_done(*run);
    return;
  }
  for (const auto& peer : run->search.next()) {
    decltype(request::body) body;
    if (run->want_values)
      body = find_value_request{run->search.target()};
    else
      body = find_node_request{run->search.target()};
    call(
      peer, std::move(body),
      [this, run, id = peer.id](response& resp) {
        if (auto found = std::get_if<find_value_result>(&resp.body)) {
          // A forged owned item with a later expiration would win the merge over the genuine one.
          if (auto forged = drop_forged(run->search.target(), found->items); forged > 0) {
            stats.forged_items += static_cast<int64_t>(forged);
            log->warn("dropped {} owned item(s) without their owner's signature from {}", forged,
                      short_hex(id));
          }
          merge_newest(run->items, found->items);
          run->search.answered(id, with_their_ids(std::move(found->closer)));
        } else if (auto nodes = std::get_if<find_node_result>(&resp.body)) {
          run->search.answered(id, with_their_ids(std::move(nodes->nodes)));
        } else {
          run->search.failed(id);
        }
        pump(run);
      },
      [this, run, id = peer.id](const caf::error&) {
        run->search.failed(id);
        pump(run);
      });
  }
}

void node_state::replicate_key(const id160& key, std::vector<item> items,
                               std::function<void(uint32_t, size_t, size_t)> done,
                               const std::string& from) {
  find(key, false, [this, key, items = std::move(items), done, from](lookup_run& run) {
    auto targets = run.search.closest_answered();
    // This node keeps a copy when it is among the k closest to the key.
    bool self_is_close = targets.size() < options.k || closer(key, me.id, targets.back().id);
    if (self_is_close && targets.size() == options.k)
      targets.pop_back();
    auto stored = std::make_shared<uint32_t>(0);
    if (self_is_close) {
      // Held: each item stored, or a newer one already there; a refused one is not held.
      bool held = true;
      for (const auto& x : items)
        if (!store->put(key, x, now(), from))
          held = false;
      if (held)
        ++*stored;
    }
    auto remaining = std::make_shared<size_t>(targets.size());
    auto rounds = run.search.rounds();
    auto requests = run.search.requests();
    if (targets.empty())
      return done(*stored, rounds, requests);
    auto finish_one = [remaining, stored, done, rounds, requests](bool ok) {
      if (ok)
        ++*stored;
      if (--*remaining == 0)
        done(*stored, rounds, requests);
    };
    for (const auto& peer : targets)
      call(peer, store_request{key, items},
           [finish_one](response& resp) {
             auto result = std::get_if<store_result>(&resp.body);
             finish_one(result != nullptr);
           },
           [finish_one](const caf::error&) { finish_one(false); });
  });
}

// -- serving peers --------------------------------------------------------------------------------

payload node_state::serve(payload& in, const std::string& from) {
  stats.bytes_received += static_cast<int64_t>(in.bytes.size());
  auto req = decode_request(in, codec);
  payload out;
  if (!req) {
    ++stats.bad_requests;
    warnings.warn(*log, "rejected", message_of(req.error()),
                  "rejected a request: " + describe(req.error()));
    out = encode(response{me, req.error()});
  } else {
    ++stats.requests_served;
    if (!req->sender.endpoint.empty() && req->sender.id != me.id)
      heard_from(req->sender);
    auto resp = answer(*req, from);
    if (!req->nonce.empty())
      resp.key_proof = prove_key(*signer, req->nonce, me);
    out = encode(resp);
  }
  stats.bytes_sent += static_cast<int64_t>(out.bytes.size());
  return out;
}

response node_state::answer(const request& req, const std::string& from) {
  auto t = now();
  return std::visit(
    [&](const auto& body) -> response {
      using T = std::decay_t<decltype(body)>;
      if constexpr (std::is_same_v<T, ping_request>) {
        return {me, pong{}};
      } else if constexpr (std::is_same_v<T, store_request>) {
        // No key holds more sub-keys: more items than that are not a real store.
        if (body.items.size() > store->limits().max_subkeys) {
          ++stats.bad_requests;
          return {me, make_error(errc::limit_exceeded,
                                 std::to_string(body.items.size()) + " items in one store, over "
                                   + std::to_string(store->limits().max_subkeys)
                                   + " (dht.max-subkeys)")};
        }
        store_result result;
        for (const auto& x : body.items) {
          auto ok = store->put(body.key, x, t, from);
          if (!ok) {
            ++stats.bad_requests;
            return {me, ok.error()};
          }
          result.accepted.push_back(*ok);
        }
        replicated_at[body.key] = t;
        return {me, std::move(result)};
      } else if constexpr (std::is_same_v<T, find_node_request>) {
        return {me, find_node_result{table->closest(body.target, options.k, &req.sender.id)}};
      } else {
        return {me, find_value_result{store->get(body.key, t),
                                      table->closest(body.key, options.k, &req.sender.id)}};
      }
    },
    req.body);
}

}  // namespace dmoe::dht
