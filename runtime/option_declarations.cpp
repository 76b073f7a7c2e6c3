// Every option of a node, declared once: group, name, field (whose initial value is the
// default), help, and bounds or choices. Rules that tie several options together are checked
// in node_config::validate_values.
#include "runtime/node_config.hpp"
#include "messages/expert_pattern.hpp"
#include "runtime/logging.hpp"

namespace dmoe {

namespace {

constexpr size_t max_hidden = 65536;

}  // namespace

void node_config::declare_options() {
  options_.group("node", "What this process is and where it listens.")
    .add(node.name, "name", "name of this node, shown in logs and by dmoe-shell")
    .add(node.roles, "roles", "roles this process runs (server and trainer need dht beside them)",
         {"dht", "server", "trainer", "inspector"})
    .add(node.host, "host", "address to listen on (0.0.0.0: every one; then set advertise)")
    .add(node.port, "port", "TCP port to listen on (0: any free one)")
    .add(node.advertise, "advertise",
         "\"host\" or \"host:port\" that peers dial and the DHT declares (empty: host and port)")
    .add(node.check_advertise, "check-advertise",
         "at start, dial the advertised address and expect to reach this node (false behind a "
         "NAT that cannot reach its own public address)")
    .add(node.log_level, "log-level", "least severe log level written",
         std::vector<std::string>(log::level_names.begin(), log::level_names.end()))
    .add(node.log_file, "log-file", "also write logs to this file (empty: stderr only)")
    .add(node.log_file_mb, "log-file-mb",
         "the log file rotates at this size (node.log becomes node.1.log, node.1.log "
         "node.2.log, ...)",
         range<uint32_t>{1, 1 << 20})
    .add(node.log_files, "log-files", "rotated log files kept besides the current one",
         range<uint32_t>{1, 1000});

  options_.group("tls", "Swarm membership: a swarm CA's certificate, this node's certificate "
                        "and key (PEM, from dmoe-keys); all three or none (an open swarm).")
    .add(tls.ca, "ca", "the swarm CA's certificate: only its members may connect")
    .add(tls.certificate, "certificate", "this node's certificate, issued by that CA")
    .add(tls.key, "key", "this node's private key");

  options_.group("limits", "What a peer's message may hold; larger or malformed ones are "
                           "refused with an error, the node goes on serving.")
    .add(limits.max_message_bytes, "max-message-bytes", "largest accepted message",
         range<uint64_t>{1024})
    .add(limits.max_tensor_bytes, "max-tensor-bytes", "largest accepted tensor (decoded)")
    .add(limits.max_tensor_rank, "max-tensor-rank", "most dimensions of a tensor",
         range<uint32_t>{1})
    .add(limits.max_tensors_per_call, "max-tensors-per-call", "most tensors in one call",
         range<uint32_t>{1})
    .add(limits.nans, "nan-policy", "whether NaN and infinities in received tensors pass")
    .add(limits.part_bytes, "part-bytes",
         "expert calls between nodes travel in parts of this size (each must arrive within "
         "middleman.connection-timeout; at most max-message-bytes)",
         range<uint64_t>{1024})
    .add(limits.max_frame_bytes, "max-frame-bytes",
         "a peer sending a larger CAF message is disconnected before it is read (at least "
         "part-bytes + 4096)",
         range<uint64_t>{1024, UINT32_MAX})
    .add(limits.max_connections, "max-connections",
         "connections this node accepts at once; beyond it new ones are closed at once",
         range<uint32_t>{1})
    .add(limits.max_connections_per_address, "max-connections-per-address",
         "connections accepted at once from one IP address (at most max-connections)",
         range<uint32_t>{1})
    .add(limits.max_pending_frame_bytes, "max-pending-frame-bytes",
         "bytes of frames still arriving, on all connections together; the connection whose "
         "frame would pass it is closed (at least max-frame-bytes)",
         range<uint64_t>{1024})
    .add(limits.max_unsent_bytes, "max-unsent-bytes",
         "bytes waiting to be sent to one peer; a peer that lets more pile up (it does not read) "
         "is disconnected (at least max-frame-bytes)",
         range<uint64_t>{1024})
    .add(limits.handshake_timeout, "handshake-timeout",
         "an accepted connection without a finished handshake (TLS and CAF's) after this long "
         "gives way to new connections when a connection limit is reached",
         positive_duration);

  options_.group("dht", "The Kademlia node every server and trainer runs beside its role.")
    .add(dht.bootstrap, "bootstrap", "known peers as \"host:port\" strings; any one that answers "
                                     "is enough to join")
    .add(dht.k, "k", "bucket size and replication factor", range<size_t>{1, 1000})
    .add(dht.alpha, "alpha", "parallel requests per lookup step (at most k)", range<size_t>{1})
    .add(dht.request_timeout, "request-timeout", "deadline of one DHT request", positive_duration)
    .add(dht.max_failures, "max-failures", "failed requests in a row before a contact is dropped",
         range<size_t>{1})
    .add(dht.refresh_interval, "refresh-interval", "refresh buckets idle for this long",
         positive_duration)
    .add(dht.replication_interval, "replication-interval",
         "republish stored items to the k closest nodes this often", positive_duration)
    .add(dht.max_ttl, "max-ttl", "latest acceptable expiration of a plain item, from now",
         positive_duration)
    .add(dht.max_owned_ttl, "max-owned-ttl",
         "latest acceptable expiration of an owned item (a declaration), from now",
         positive_duration)
    .add(dht.max_value_bytes, "max-value-bytes", "largest value one item may hold",
         range<size_t>{1, dht::default_max_value_bytes * 16})
    .add(dht.max_entries, "max-entries", "most items this node stores", range<size_t>{1})
    .add(dht.max_subkeys, "max-subkeys", "most sub-keys under one key", range<size_t>{1})
    .add(dht.max_key_bytes, "max-key-bytes",
         "most bytes of items under one key (a lookup's answer must fit in a frame: at most half "
         "of limits.max-frame-bytes)",
         range<size_t>{1024})
    .add(dht.max_stored_mb, "max-stored-mb", "most MiB of items this node stores",
         range<size_t>{1})
    .add(dht.max_peer_stored_mb, "max-peer-stored-mb",
         "most MiB of items one peer (its certificate's member, else its address) may store here "
         "(at most max-stored-mb)",
         range<size_t>{1})
    .add(dht.peer_access_rate, "peer-access-rate",
         "lookups and stores per second one peer may have this node run for it through its access "
         "interface (dmoe-shell, dmoe-dht; each costs the swarm a whole lookup); 0: no limit",
         range<double>{0, 1e9})
    .add(dht.peer_access_burst, "peer-access-burst",
         "such lookups and stores one peer may ask at once (at least 1 when the rate is on)",
         range<double>{0, 1e9});

  declare_server_options();

  options_.group("moe", "A trainer's DMoE layers: which grid they route to and how they call "
                        "the experts.")
    .add(moe.expert_prefix, "expert-prefix",
         "grid name the first DMoE layer routes to; layer i > 0 routes to PREFIX-i")
    .add(moe.grid, "grid", "grid dimensions, e.g. [4, 4] (1..8 dimensions of 1..1000000)")
    .add(moe.k_best, "k-best", "experts asked per sample", range<size_t>{1})
    .add(moe.k_min, "k-min", "fewest answers a sample's forward accepts (at most k-best)",
         range<size_t>{1})
    .add(moe.forward_timeout, "forward-timeout", "deadline of a forward call", positive_duration)
    .add(moe.timeout_after_k_min, "timeout-after-k-min",
         "once k-min experts answered, wait this long for the others", positive_duration)
    .add(moe.backward_k_min, "backward-k-min",
         "fewest answers a sample's backward accepts (at most k-best)", range<size_t>{1})
    .add(moe.backward_timeout, "backward-timeout", "deadline of a backward call",
         positive_duration)
    .add(moe.allow_zero_outputs, "allow-zero-outputs",
         "below k-min answers: zeros instead of an error")
    .add(moe.directory_cache, "directory-cache",
         "a DHT lookup is fresh this long; then its unexpired items are still used while it is "
         "looked up again in the background",
         positive_duration)
    .add(moe.compression, "compression", "how calls carry float32 tensors (float16 halves them)")
    .add(moe.routing, "routing",
         "a language model's DMoE layers: each token's feed-forward to ffn experts, or each "
         "sequence to whole decoder blocks (causal-transformer experts, the paper's layout)");

  declare_trainer_options();

  options_.group("averaging", "Trainers of one run averaging their shared parameters (all but "
                              "the experts) into one model: DiLoCo outer steps over a butterfly "
                              "all-reduce among groups found through the DHT.")
    .add(averaging.every, "every",
         "local steps between outer steps (0: no averaging, each trainer keeps its own model)")
    .add(averaging.run, "run", "name of the run: trainers of one run average together")
    .add(averaging.group_size, "group-size", "most members in one round", range<size_t>{2, 256})
    .add(averaging.min_group, "min-group",
         "fewer members: the round is abandoned and parameters stay local", range<size_t>{2, 256})
    .add(averaging.compression, "compression",
         "how pseudo-gradients cross the wire: none (float32), float16 or int8")
    .add(averaging.outer_learning_rate, "outer-learning-rate",
         "learning rate of the outer Nesterov step (DiLoCo: 0.7)", positive_real)
    .add(averaging.outer_momentum, "outer-momentum", "momentum of the outer step (DiLoCo: 0.9)",
         range<double>{0.0, 0.999})
    .add(averaging.gather_timeout, "gather-timeout",
         "how long a round's matchmaking waits for members", positive_duration)
    .add(averaging.round_timeout, "round-timeout",
         "how long each phase of the all-reduce waits; a member silent for longer is dropped",
         positive_duration)
    .add(averaging.client_mode, "client-mode",
         "this trainer is not reachable (behind NAT): it sends and receives, reduces nothing")
    .add(averaging.join_state, "join-state",
         "at start, download the shared parameters from the most advanced member of the run");

  options_.group("inspector", "What dmoe-shell may do on this node.")
    .add(inspector.allow_control, "allow-control", "let dmoe-shell run control commands");
}

void node_config::declare_server_options() {
  auto real_limit = range<double>{0, 1e9};
  options_.group("server", "An expert server: the experts it hosts, how it trains them, and "
                           "what it grants each peer (fair service; 0 turns a peer limit off).")
    .add(server.expert_type, "expert-type", "registry name of the hosted experts, e.g. ffn")
    .add(server.expert_pattern, "expert-pattern",
         "grid cells to host, half-open ranges per coordinate, e.g. \"ffn.[0:4].[0:4]\"; several "
         "patterns apart by commas (one per grid, e.g. a language model's layers ffn, ffn-1, ...)")
    .add(server.num_experts, "num-experts",
         "host this many cells of the pattern, a seeded sample (0: all)")
    .add(server.max_experts, "max-experts",
         "most experts this server may host: a pattern (or num-experts) above it stops the node "
         "at start, as does one whose experts would not fit in the memory available",
         range<size_t>{1, max_pattern_ids})
    .add(server.hidden, "hidden", "hidden size of the experts", range<int64_t>{1, max_hidden})
    .add(server.optimizer, "optimizer", "each expert's optimizer")
    .add(server.learning_rate, "learning-rate", "the experts' learning rate", positive_real)
    .add(server.momentum, "momentum", "momentum of sgd", range<double>{0})
    .add(server.weight_decay, "weight-decay", "L2 weight decay", range<double>{0})
    .add(server.clip_grad_norm, "clip-grad-norm", "clip each expert's gradient norm (0: off)",
         range<double>{0})
    .add(server.warmup_updates, "warmup-updates",
         "each expert's learning rate rises linearly over its first this many updates (0: none)")
    .add(server.accumulate_samples, "accumulate-samples",
         "an expert's update sums the gradients of at least this many samples, so how often it "
         "moves does not depend on how calls arrive (0: every backward batch is an update)",
         range<size_t>{0, max_accumulate_samples})
    .add(server.max_batch_size, "max-batch-size",
         "most rows per call and per compute batch; routers learn it and split bigger calls",
         range<size_t>{1})
    .add(server.max_tokens, "max-tokens",
         "longest free dimension (e.g. a transformer's tokens) one call may carry",
         range<size_t>{1, max_tokens_limit})
    .add(server.max_batch_wait, "max-batch-wait", "longest wait for a batch to fill",
         range<caf::timespan>{caf::timespan{0}})
    .add(server.adaptive_wait, "adaptive-wait",
         "wait for a batch to fill only while calls come in close succession (false: always)")
    .add(server.activation_memory_mb, "activation-memory-mb",
         "MiB of forward activations kept for the backward of the same inputs, shared by the "
         "experts (0: every backward recomputes)",
         range<size_t>{0, max_activation_memory_mb})
    .add(server.activation_ttl, "activation-ttl", "how long kept activations wait for a backward",
         positive_duration)
    .add(server.compute_threads, "compute-threads", "threads running LibTorch work",
         range<size_t>{1, 64})
    .add(server.torch_threads, "torch-threads", "LibTorch intra-op threads per compute thread",
         range<size_t>{1, 64})
    .add(server.declare_period, "declare-period", "how often experts are declared in the DHT",
         positive_duration)
    .add(server.declare_ttl, "declare-ttl",
         "how long one declaration stays valid (above declare-period, at most dht.max-owned-ttl)",
         positive_duration)
    .add(server.checkpoint_dir, "checkpoint-dir",
         "where expert checkpoints go, and are restored from at start (empty: none)")
    .add(server.checkpoint_period, "checkpoint-period", "how often checkpoints are written",
         positive_duration)
    .add(server.seed, "seed", "seed for expert init and sampling (0: from the node name)")
    .add(server.compression, "compression",
         "how replies carry float32 tensors (float16 halves them)")
    .add(server.fail_rate, "fail-rate",
         "fault injection: answer this share of forward and backward calls, drawn at random, "
         "with an error",
         range<double>{0, 1})
    .add(server.peer_request_rate, "peer-request-rate", "requests per second one peer may make",
         real_limit)
    .add(server.peer_request_burst, "peer-request-burst",
         "requests one peer may make at once (at least 1 when the rate is on)", real_limit)
    .add(server.peer_max_in_flight, "peer-max-in-flight",
         "calls of one peer queued or computing at once")
    .add(server.peer_max_expert_mb, "peer-max-expert-mb",
         "MiB of one peer's requests waiting at one expert", range<size_t>{0, max_queued_mb_limit})
    .add(server.peer_max_queued_mb, "peer-max-queued-mb",
         "MiB of one peer's requests waiting at this server", range<size_t>{0, max_queued_mb_limit})
    .add(server.max_queued_mb, "max-queued-mb", "MiB of requests waiting at this server, all "
                                                "peers",
         range<size_t>{0, max_queued_mb_limit})
    .add(server.peer_update_rate, "peer-update-rate",
         "backward samples per second one peer may send one expert", real_limit)
    .add(server.peer_update_burst, "peer-update-burst",
         "backward samples one peer may send one expert at once (at least max-batch-size when "
         "the rate is on)",
         real_limit)
    .add(server.peer_nodes, "peer-nodes",
         "the per-peer limits above hold once per node seen from a peer's address (or TLS "
         "member), up to this many times: processes sharing an address, not made-up node ids",
         range<size_t>{1, 1024})
    .add(server.outlier_factor, "outlier-factor",
         "Adam: clip each gradient element of an update to this many times its running RMS, so "
         "one update raises Adam's second moment at most 1 + (f^2 - 1)(1 - beta2) times (0: "
         "off, else at least 1)",
         range<double>{0, 1e6});
}

void node_config::declare_trainer_options() {
  options_.group("trainer", "What a trainer trains, on which data, and how.")
    .add(trainer.task, "task",
         "fashion-mnist: the DMoE classifier on Fashion-MNIST; language-model: the DMoE "
         "Transformer on real text")
    .add(trainer.data_dir, "data-dir", "folder with the Fashion-MNIST *-ubyte.gz files")
    .add(trainer.text_file, "text-file",
         "the language model's UTF-8 text (empty: the King James Bible from Debian's bible-kjv); "
         "documents are its blank-line-separated paragraphs, 5 % held out for validation and 5 % "
         "for test")
    .add(trainer.vocab_size, "vocab-size",
         "the language model's SentencePiece BPE pieces (a newline token comes on top)",
         range<int64_t>{512, 65536})
    .add(trainer.context, "context", "the language model's tokens per sequence",
         range<size_t>{2, 4096})
    .add(trainer.heads, "heads", "the language model's attention heads (dividing hidden)",
         range<size_t>{1, 256})
    .add(trainer.balance_weight, "balance-weight",
         "weight of the DMoE layers' load-balancing loss in the language model's loss",
         range<double>{0, 100})
    .add(trainer.cache_dir, "cache-dir",
         "where trained tokenizers are kept (one per text and settings)")
    .add(trainer.hidden, "hidden", "hidden size of the model (must equal the servers')",
         range<int64_t>{1, max_hidden})
    .add(trainer.moe_layers, "moe-layers",
         "DMoE layers in the model (the language model's blocks)", range<size_t>{1, 64})
    .add(trainer.model, "model",
         "dmoe; largeffn: each DMoE layer replaced by one local ffn with as many parameters as "
         "the grid's experts; dense: by one local ffn as wide as the k-best experts a sample "
         "uses (no router is called by either)")
    .add(trainer.batch_size, "batch-size",
         "examples per training step (images, or the language model's sequences)",
         range<size_t>{1, 65536})
    .add(trainer.workers, "workers",
         "batches in flight at once, each on its own replica of the local layers",
         range<size_t>{1, 256})
    .add(trainer.max_staleness, "max-staleness",
         "drop gradients staler than this many updates (0: as many as workers)")
    .add(trainer.stale_rate, "stale-rate",
         "full, or divided: a stale update's learning rate divided by its staleness")
    .add(trainer.accumulate, "accumulate",
         "batches whose gradients are averaged into one update of the local parameters",
         range<size_t>{1, 256})
    .add(trainer.learning_rate, "learning-rate", "learning rate of the local layers",
         positive_real)
    .add(trainer.lr_schedule, "lr-schedule",
         "cosine (decays to 10% at the last step) or constant")
    .add(trainer.warmup_steps, "warmup-steps",
         "the learning rate rises linearly over the first steps (0: none)")
    .add(trainer.epochs, "epochs", "passes over the training set (0: until max-steps or max-time)")
    .add(trainer.max_steps, "max-steps", "stop after this many steps (0: no step limit)")
    .add(trainer.max_time, "max-time", "stop after this long", positive_duration)
    .add(trainer.eval_every, "eval-every", "steps between test-set evaluations", range<size_t>{1})
    .add(trainer.eval_samples, "eval-samples",
         "test images or held-out sequences per evaluation (0: all)")
    .add(trainer.metrics_csv, "metrics-csv", "write metrics to this CSV file (empty: none)")
    .add(trainer.checkpoint_dir, "checkpoint-dir",
         "save parameters, optimizer and data position here; resume from them at start")
    .add(trainer.checkpoint_period, "checkpoint-period", "time between trainer checkpoints",
         positive_duration)
    .add(trainer.progress, "progress", "draw a progress bar on stderr")
    .add(trainer.seed, "seed", "seed for init and shuffling (0: from the node name)");
}

}  // namespace dmoe
