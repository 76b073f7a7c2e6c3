#!/usr/bin/env bash
# The README's first command: installs what is needed, builds, and runs the main job described
# in configs/local-swarm.ini - a DHT node, 4 expert servers and 2 trainers, each its own
# dmoe-node process on loopback. By default the trainers train the DMoE Transformer language
# model on the King James Bible (configs/lm-trainer.ini) and the script ends with a passage the
# model writes through the swarm (dmoe-generate); DMOE_SWARM_TASK=fashion-mnist trains the DMoE
# classifier on Fashion-MNIST instead (configs/trainer.ini). Trainer 0 draws the progress bar;
# every node logs to RUN_DIR/*.log; the trainers' metrics go to RUN_DIR/trainer-*.csv and, when
# gnuplot is installed, RUN_DIR/metrics.png.
# Settings come from configs/local-swarm.ini; DMOE_SWARM_<KEY> overrides one (e.g.
# DMOE_SWARM_TASK=fashion-mnist, DMOE_SWARM_RUN_DIR=/tmp/run, DMOE_SWARM_TLS=false).
# With tls=true every node gets a certificate from a CA made in RUN_DIR/keys (dmoe-keys).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh >/dev/null

# swarm_setting KEY: DMOE_SWARM_KEY if set, else KEY from the [swarm] section (quotes removed).
swarm_setting() {
  local env="DMOE_SWARM_$(echo "$1" | tr 'a-z-' 'A-Z_')"
  if [ -n "${!env:-}" ]; then echo "${!env}"; return; fi
  awk -F= -v key="$1" '/^\[/{s=($0=="[swarm]")} s && $1==key {gsub(/"/,"",$2); print $2}' \
    configs/local-swarm.ini
}
task=$(swarm_setting task)
base_port=$(swarm_setting base-port)
servers=$(swarm_setting servers)
trainers=$(swarm_setting trainers)
run_dir=$(swarm_setting run-dir)
tls=$(swarm_setting tls)
node=build/apps/dmoe-node
bootstrap="[\"127.0.0.1:$base_port\"]"
case "$task" in
  language-model|fashion-mnist) ;;
  *) echo "demo: task '$task' is neither language-model nor fashion-mnist" >&2; exit 2 ;;
esac
rm -rf "$run_dir" && mkdir -p "$run_dir"

# tls_args NAME: the [tls] settings of member NAME (nothing in an open swarm).
keys="$run_dir/keys"
tls_args() {
  [ "$tls" = "true" ] || return 0
  printf '%s\n' "--tls.ca=\"$keys/members/ca.pem\"" "--tls.certificate=\"$keys/members/$1.pem\"" \
    "--tls.key=\"$keys/members/$1.key\""
}
if [ "$tls" = "true" ]; then
  build/apps/dmoe-keys init "$keys/ca" >/dev/null
  for name in dht $(seq -f "server-%g" 0 $((servers - 1))) $(seq -f "trainer-%g" 0 $((trainers - 1))) shell; do
    build/apps/dmoe-keys issue --ca "$keys/ca" --name "$name" --out "$keys/members" >/dev/null
  done
fi

# What the servers host and the trainers run, by task. Server i hosts row i of each grid: the
# classifier has one grid (ffn), the language model one per block (ffn, ffn-1, ...).
if [ "$task" = language-model ]; then
  layers=$(swarm_setting lm-layers)
  pattern() {
    local grids=("ffn") l
    for ((l = 1; l < layers; l++)); do grids+=("ffn-$l"); done
    local IFS=,
    local rows=()
    for g in "${grids[@]}"; do rows+=("$g.[$1:$(($1 + 1))].[0:4]"); done
    echo "${rows[*]}"
  }
  trainer_args=(--config-file=configs/lm-trainer.ini --trainer.moe-layers="$layers"
                --trainer.max-time="$(swarm_setting lm-max-time)")
else
  pattern() { echo "ffn.[$1:$(($1 + 1))].[0:4]"; }
  trainer_args=(--config-file=configs/trainer.ini --trainer.epochs="$(swarm_setting epochs)"
                --trainer.max-time="$(swarm_setting max-time)")
fi

pids=()
cleanup() {
  # The DHT node (the first pid) goes last: servers that outlive it warn that they lost every
  # DHT contact.
  for p in "${pids[@]:1}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]:1}"; do wait "$p" 2>/dev/null || true; done
  [ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[0]}" 2>/dev/null
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "== local swarm training the $task task: 1 DHT node, $servers expert servers, $trainers trainers (logs in $run_dir)"
[ "$tls" = "true" ] && echo "== TLS between members of the swarm's CA (keys in $keys; DMOE_SWARM_TLS=false: open swarm)"
$node --config-file=configs/dht-bootstrap.ini --node.port="$base_port" $(tls_args dht) \
  >"$run_dir/dht.log" 2>&1 &
pids+=($!)
# The others join through it: start them once it listens (10 s at most), or their first
# bootstrap attempt fails and they join 2 s later, while the trainers take their first steps.
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$base_port") 2>/dev/null && break
  sleep 0.1
done
for ((i = 0; i < servers; i++)); do
  $node --config-file=configs/server.ini --node.name="\"server-$i\"" \
    --node.port=$((base_port + 10 + i)) "--dht.bootstrap=$bootstrap" \
    "--server.expert-pattern=\"$(pattern "$i")\"" \
    "--server.checkpoint-dir=\"$run_dir/checkpoints-$i\"" --server.seed=$((i + 1)) \
    $(tls_args "server-$i") >"$run_dir/server-$i.log" 2>&1 &
  pids+=($!)
done
trainer_pids=()
for ((i = 0; i < trainers; i++)); do
  args=("${trainer_args[@]}" --node.name="\"trainer-$i\""
        --node.port=$((base_port + 20 + i)) "--dht.bootstrap=$bootstrap" --trainer.seed=$((i + 1))
        "--trainer.checkpoint-dir=\"$run_dir/trainer-$i-checkpoint\""
        "--trainer.metrics-csv=\"$run_dir/trainer-$i.csv\"" $(tls_args "trainer-$i"))
  if [ "$i" -eq 0 ]; then
    # the progress bar on the terminal, the log lines in the file
    $node "${args[@]}" --trainer.progress --node.log-file="\"$run_dir/trainer-0.log\"" \
      --node.log-level=\"warn\" &
  else
    $node "${args[@]}" >"$run_dir/trainer-$i.log" 2>&1 &
  fi
  trainer_pids+=($!)
  pids+=($!)
done
shell_tls=""
[ "$tls" = "true" ] && shell_tls=" --tls.ca $keys/members/ca.pem --tls.certificate $keys/members/shell.pem --tls.key $keys/members/shell.key"
echo "== inspect it live: build/apps/dmoe-shell 127.0.0.1:$((base_port + 20))$shell_tls (try: experts, trainers)"

status=0
for p in "${trainer_pids[@]}"; do wait "$p" || status=1; done
echo "== trainers finished"
# The last CSV row of each trainer holds its final figures (columns: see the header).
for ((i = 0; i < trainers; i++)); do
  if [ "$task" = language-model ]; then
    tail -n 1 "$run_dir/trainer-$i.csv" 2>/dev/null | awk -F, -v t="trainer-$i" '{
      printf "%s: %d steps, %d tokens in %.0f s, %.0f tokens/s, loss %.3f, held-out %.3f bits per character (test text %.3f), %d failed steps\n",
        t, $2, $4, $1, $7, $5, $6, $11, $8 }'
  else
    tail -n 1 "$run_dir/trainer-$i.csv" 2>/dev/null | awk -F, -v t="trainer-$i" '{
      printf "%s: %d steps (%d epochs), %d samples in %.0f s, %.0f samples/s, loss %.3f, test accuracy %.2f%%, %d failed steps\n",
        t, $2, $3 + 1, $4, $1, $8, $5, $7 * 100, $9 }'
  fi
done
# One model: trainers that average (averaging.every > 0) end with the same shared parameters.
fingerprints=$(for ((i = 0; i < trainers; i++)); do
  tail -n 1 "$run_dir/trainer-$i.csv" 2>/dev/null | awk -F, '{print $NF}'; done | sort -u)
if [ -n "$fingerprints" ] && [ "$(echo "$fingerprints" | wc -l)" -eq 1 ]; then
  echo "== one model: every trainer ends with the same shared parameters ($fingerprints)"
elif [ -n "$fingerprints" ]; then
  echo "== the trainers end with different shared parameters: $(echo $fingerprints)"
fi
if command -v gnuplot >/dev/null; then
  scripts/plot-metrics.sh "$run_dir/metrics.png" "$run_dir"/trainer-*.csv && \
    echo "== plot: $run_dir/metrics.png"
fi
echo "== metrics: $run_dir/trainer-*.csv"
if [ "$task" = language-model ] && [ "$status" -eq 0 ]; then
  # The servers still run: trainer 0's model writes a passage, its experts called through them.
  echo "== trainer-0's model, through the swarm (build/apps/dmoe-generate):"
  generate_tls=""
  [ "$tls" = "true" ] && generate_tls="--tls.ca $keys/members/ca.pem --tls.certificate $keys/members/shell.pem --tls.key $keys/members/shell.key"
  build/apps/dmoe-generate --checkpoint "$run_dir/trainer-0-checkpoint" \
    --dht "127.0.0.1:$base_port" --prompt "And God said" --tokens 120 $generate_tls || status=1
fi
exit $status
