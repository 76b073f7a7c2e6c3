// dmoe-generate: text from a language model trained by a swarm. Loads a trainer's checkpoint
// (its local layers: embeddings, attention, gates) and the tokenizer it names, joins the swarm
// through a DHT node, and samples tokens after a prompt, the experts called remotely.
//   dmoe-generate --checkpoint /tmp/dmoe-local-swarm/trainer-0-checkpoint --dht 127.0.0.1:4100
//     --prompt "In the beginning" --tokens 200 [--temperature 0.8] [--top-k 40] [--tls.* ...]
#include <cstdio>
#include <filesystem>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/dht/node.hpp"
#include "actors/moe/supervisor.hpp"
#include "actors/trainer/lm_model.hpp"
#include "actors/trainer/lm_sampling.hpp"
#include "actors/trainer/lm_text.hpp"
#include "actors/trainer/trainer_checkpoint.hpp"
#include "apps/common/tool_config.hpp"
#include "messages/errors.hpp"
#include "runtime/data/tokenizer.hpp"
#include "runtime/endpoint.hpp"
#include "runtime/logging.hpp"

using namespace dmoe;

namespace {

constexpr auto join_timeout = std::chrono::seconds(30);

int fail(const std::string& why, int code = 1) {
  std::fprintf(stderr, "dmoe-generate: %s\n", why.c_str());
  return code;
}

/// The model's settings from the checkpoint's tags; an error naming a missing or bad one.
caf::expected<std::pair<lm_shape, moe_options>> settings_of(const model_tags& tags) {
  if (tag(tags, "task") != "language-model")
    return make_error(errc::invalid_argument, "the checkpoint holds no language model (task '"
                                                + tag(tags, "task") + "')");
  lm_shape shape;
  moe_options moe;
  try {
    shape.vocab = std::stoll(tag(tags, "vocab"));
    shape.context = std::stoll(tag(tags, "context"));
    shape.hidden = std::stoll(tag(tags, "hidden"));
    shape.layers = std::stoll(tag(tags, "layers"));
    shape.heads = std::stoll(tag(tags, "heads"));
    moe.k_best = std::stoul(tag(tags, "k_best"));
    moe.grid.clear();
    auto grid = tag(tags, "grid");
    for (size_t start = 0; start < grid.size();) {
      auto x = grid.find('x', start);
      moe.grid.push_back(std::stoll(grid.substr(start, x - start)));
      start = x == std::string::npos ? grid.size() : x + 1;
    }
  } catch (const std::exception&) {
    return make_error(errc::invalid_argument, "the checkpoint's model tags are incomplete");
  }
  moe.expert_prefix = tag(tags, "expert_prefix");
  auto routing = parse_choice<routing_kind>(tag(tags, "routing"));
  if (!routing)
    return make_error(errc::invalid_argument, "the checkpoint's routing tag '"
                                                + tag(tags, "routing") + "' is not token or sequence");
  moe.routing = *routing;
  moe.k_min = 1;
  return std::make_pair(shape, moe);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dmoe-generate: text from a language model trained by a dmoe swarm"};
  std::string checkpoint, dht_peer, prompt = "In the beginning";
  std::string tokenizer_path;
  sampling_options sampling;
  app.add_option("--checkpoint", checkpoint, "a trainer's checkpoint directory or its trainer.pt")
    ->required();
  app.add_option("--dht", dht_peer, "a DHT node of the swarm, host:port")->required();
  app.add_option("--prompt", prompt, "the text to go on from");
  app.add_option("--tokens", sampling.tokens, "tokens to sample")->check(CLI::Range(1, 100000));
  app.add_option("--temperature", sampling.temperature, "sampling temperature")
    ->check(CLI::Range(1e-3, 100.0));
  app.add_option("--top-k", sampling.top_k, "sample among the k most likely tokens (0: all)")
    ->check(CLI::Range(0, 1 << 20));
  app.add_option("--seed", sampling.seed, "the sampling seed");
  app.add_option("--tokenizer", tokenizer_path,
                 "the tokenizer model (default: the one the checkpoint names)");
  tool_config_flags config_flags;
  config_flags.add_to(app);
  CLI11_PARSE(app, argc, argv);
  log::setup("warn");

  if (std::filesystem::is_directory(checkpoint))
    checkpoint = trainer_checkpoint_path(checkpoint);
  auto tags = read_checkpoint_tags(checkpoint);
  if (!tags)
    return fail(describe(tags.error()), 2);
  auto settings = settings_of(*tags);
  if (!settings)
    return fail(describe(settings.error()), 2);
  auto [shape, moe] = *settings;
  auto tokenizer = data::tokenizer::load(tokenizer_path.empty() ? tag(*tags, "tokenizer_path")
                                                                : tokenizer_path);
  if (!tokenizer)
    return fail(describe(tokenizer.error()), 2);
  if ((*tokenizer)->fingerprint() != tag(*tags, "tokenizer"))
    return fail("the tokenizer " + (*tokenizer)->model_path() + " is not the one the model was "
                "trained with (fingerprint " + (*tokenizer)->fingerprint() + ", the checkpoint's "
                + tag(*tags, "tokenizer") + ")", 2);
  auto prompt_ids = (*tokenizer)->encode(prompt);
  if (prompt_ids.empty())
    return fail("--prompt is empty: give the model some text to go on from", 2);
  if (static_cast<int64_t>(prompt_ids.size()) > shape.context)
    return fail("--prompt is " + std::to_string(prompt_ids.size())
                + " tokens, longer than the model's context of " + std::to_string(shape.context), 2);
  auto peer = parse_endpoint(dht_peer);
  if (!peer)
    return fail("--dht: " + describe(peer.error()), 2);

  node_config cfg;
  if (auto err = config_flags.parse(cfg))
    return fail(describe(err), 2);
  caf::actor_system system{cfg};
  if (auto err = tool_config_flags::apply(system, cfg, "dmoe-generate/wire"))
    return fail(describe(err), 2);
  // A DHT node of its own that advertises nothing: it asks the swarm, nobody asks it.
  dht::node_setup dht_setup;
  dht_setup.name = "dmoe-generate/dht";
  dht_setup.options = cfg.dht;
  dht_setup.options.bootstrap = {dht_peer};
  dht_setup.limits = cfg.limits.wire();
  auto dht_node = dht::spawn_node(system, dht_setup);
  uint32_t contacts = 0;
  {
    caf::scoped_actor self{system};
    self->request(dht_node, join_timeout, dht::dht_start_atom::value, std::string{})
      .receive([&](uint32_t n) { contacts = n; }, [](caf::error&) {});
  }
  int rc = 0;
  moe::router_actor router;
  if (contacts == 0) {
    rc = fail("no DHT node answered at " + dht_peer);
  } else {
    moe::router_setup router_setup;
    router_setup.name = "dmoe-generate/moe";
    router_setup.options = moe;
    router_setup.limits = cfg.limits.wire();
    router_setup.dht = dht_node;
    router = moe::spawn_supervised_router(system, std::move(router_setup));
    LanguageModel model{system, router, shape, model_kind::dmoe, moe};
    if (auto err = load_checkpoint_parameters(checkpoint, *model)) {
      rc = fail(describe(err), 2);
    } else {
      try {
        std::printf("%s", prompt.c_str());
        std::fflush(stdout);
        sample_tokens(*model, prompt_ids, sampling, [&](int64_t id) {
          std::printf("%s", (*tokenizer)->decode({id}).c_str());
          std::fflush(stdout);
        });
        std::printf("\n");
      } catch (const std::exception& e) {
        std::printf("\n");
        rc = fail(std::string{"the swarm could not answer: "} + e.what());
      }
    }
  }
  if (router)
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(dht_node, caf::exit_reason::user_shutdown);
  return rc;
}
