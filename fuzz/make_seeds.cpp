// fuzz-seeds DIR: writes one seed corpus per harness under DIR/<harness>/, made of the kinds of
// messages the tests send (every DHT RPC and its answer, every expert call and reply, tensors
// of each dtype, error replies, expert patterns). The config harness is seeded from configs/.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <capnp/message.h>
#include <torch/types.h>

#include "messages/declaration.hpp"
#include "messages/dht_codec.hpp"
#include "messages/schema/error.capnp.h"
#include "runtime/expert_codec.hpp"
#include "runtime/tensor_codec.hpp"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

void write_seed(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream{dir / name, std::ios::binary} << bytes;
}

void write_seed(const fs::path& dir, const std::string& name, const payload& p) {
  write_seed(dir, name, std::string(p.bytes.begin(), p.bytes.end()));
}

dht::id160 make_id(uint8_t fill) {
  dht::id160 id;
  id.fill(fill);
  return id;
}

void dht_seeds(const fs::path& root) {
  dht::node_info sender{make_id(1), "127.0.0.1:4000"};
  dht::item plain{"", "127.0.0.1:5000", 1.7e9, ""};
  dht::item owned{"17#" + std::string(64, 'a'), "127.0.0.1:5000", 1.7e9, std::string(64, 's')};
  dht::store_request store{make_id(2), {plain, owned}};
  auto requests = root / "dht_request";
  write_seed(requests, "ping", dht::encode(dht::request{sender, dht::ping_request{}}));
  write_seed(requests, "store", dht::encode(dht::request{sender, store}));
  write_seed(requests, "find_node", dht::encode(dht::request{sender, dht::find_node_request{make_id(3)}}));
  write_seed(requests, "find_value", dht::encode(dht::request{sender, dht::find_value_request{make_id(4)}}));
  auto responses = root / "dht_response";
  write_seed(responses, "pong", dht::encode(dht::response{sender, dht::pong{}}));
  write_seed(responses, "stored", dht::encode(dht::response{sender, dht::store_result{{true, false}}}));
  write_seed(responses, "nodes", dht::encode(dht::response{sender, dht::find_node_result{{sender}}}));
  write_seed(responses, "items",
             dht::encode(dht::response{sender, dht::find_value_result{{plain, owned}, {sender}}}));
  write_seed(responses, "error",
             dht::encode(dht::response{sender, make_error(errc::forbidden, "not the owner")}));
}

void tensor_seeds(const fs::path& root) {
  auto dir = root / "tensor";
  write_seed(dir, "float32", encode_tensor(torch::randn({4, 8})));
  write_seed(dir, "float16", encode_tensor(torch::randn({4, 8}), wire::Compression::FLOAT16));
  write_seed(dir, "int64", encode_tensor(torch::arange(12).reshape({3, 4})));
  write_seed(dir, "rank3", encode_tensor(torch::randn({2, 3, 4})));
  write_seed(dir, "empty", encode_tensor(torch::zeros({0, 8})));
}

void expert_seeds(const fs::path& root) {
  auto x = torch::randn({3, 8});
  auto calls = root / "expert_call";
  write_seed(calls, "forward", encode(expert_call{forward_call{"ffn.0.1", {x}}}));
  write_seed(calls, "backward", encode(expert_call{backward_call{"ffn.0.1", {x}, {x}}}));
  write_seed(calls, "backward16",
             encode(expert_call{backward_call{"ffn.0.1", {x}, {x}}}, wire::Compression::FLOAT16));
  write_seed(calls, "info", encode(expert_call{info_call{"ffn.0.1"}}));
  auto replies = root / "expert_reply";
  write_seed(replies, "outputs", encode(expert_reply{forward_result{{x}}}));
  write_seed(replies, "grads", encode(expert_reply{backward_result{{x}}}));
  expert_info info{"ffn.0.1", "ffn", {{torch::kFloat32, {-1, 8}}}, {{torch::kFloat32, {-1, 8}}}, 1024};
  write_seed(replies, "info", encode(expert_reply{info}));
  write_seed(replies, "error", encode(expert_reply{make_error(errc::unknown_expert, "ffn.9.9")}));
}

void error_seeds(const fs::path& root) {
  for (auto code : {errc::internal, errc::malformed, errc::unavailable, errc::forbidden, errc::overloaded,
                    errc::expert_overloaded}) {
    capnp::MallocMessageBuilder message;
    write_error(message.initRoot<wire::ErrorReply>(), make_error(code, "seed"));
    write_seed(root / "error_reply", to_string(code), to_payload(message));
  }
}

void pattern_seeds(const fs::path& root) {
  int n = 0;
  for (auto p : {"ffn.[0:4].[0:4]", "ffn.[0:2].[5:7]", "ffn.3.1", "tf-1.[0:16]", "x.[0:0]"})
    write_seed(root / "expert_pattern", "p" + std::to_string(n++), std::string{p});
}

void declaration_seeds(const fs::path& root) {
  int n = 0;
  for (const auto& e : declaration_entries({"ffn.0.1", "ffn.0.2", "ffn.0.7", "ffn.3.0"}, "10.0.0.1:4100"))
    write_seed(root / "declaration", "d" + std::to_string(n++), e.value);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz-seeds DIR\n");
    return 2;
  }
  fs::path root{argv[1]};
  dht_seeds(root);
  tensor_seeds(root);
  expert_seeds(root);
  error_seeds(root);
  pattern_seeds(root);
  declaration_seeds(root);
  return 0;
}
