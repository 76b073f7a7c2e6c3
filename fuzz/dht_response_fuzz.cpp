// Every DHT RPC response (pong, store result, nodes, items and closer nodes, error) as a peer
// sends one: a decoded response is within the limits and survives its own re-encoding.
#include "fuzz/fuzz_input.hpp"
#include "messages/dht_codec.hpp"

using namespace dmoe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dht::codec_limits limits;
  limits.wire = fuzz::small_limits();
  auto resp = dht::decode_response(fuzz::as_payload(data, size), limits);
  if (!resp)
    return 0;
  if (auto* found = std::get_if<dht::find_value_result>(&resp->body)) {
    if (found->items.size() > limits.max_items_per_message
        || found->closer.size() > limits.max_contacts_per_message)
      fuzz::broken("items or contacts over the limits");
  }
  if (auto* nodes = std::get_if<dht::find_node_result>(&resp->body))
    if (nodes->nodes.size() > limits.max_contacts_per_message)
      fuzz::broken("contacts over the limit");
  auto again = dht::decode_response(dht::encode(*resp), limits);
  if (!again)
    fuzz::broken("re-encoded response refused: " + describe(again.error()));
  if (!(again->responder == resp->responder) || again->body.index() != resp->body.index())
    fuzz::broken("re-encoded response differs");
  return 0;
}
