// Every DHT RPC request (ping, store, find_node, find_value) as a peer sends one: a decoded
// request is within the codec's limits and comes back equal from its own re-encoding.
#include "fuzz/fuzz_input.hpp"
#include "messages/dht_codec.hpp"

using namespace dmoe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dht::codec_limits limits;
  limits.wire = fuzz::small_limits();
  auto req = dht::decode_request(fuzz::as_payload(data, size), limits);
  if (!req)
    return 0;
  if (req->sender.endpoint.size() > limits.max_endpoint_bytes)
    fuzz::broken("endpoint over the limit");
  if (auto* store = std::get_if<dht::store_request>(&req->body))
    for (const auto& item : store->items)
      if (item.subkey.size() > limits.max_subkey_bytes || item.value.size() > limits.max_value_bytes)
        fuzz::broken("item over the limits");
  auto again = dht::decode_request(dht::encode(*req), limits);
  if (!again)
    fuzz::broken("re-encoded request refused: " + describe(again.error()));
  if (!(again->sender == req->sender) || again->body.index() != req->body.index())
    fuzz::broken("re-encoded request differs");
  return 0;
}
