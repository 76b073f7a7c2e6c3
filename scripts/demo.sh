#!/usr/bin/env bash
# The README's first command: installs what is needed, builds, and runs the main job described
# in configs/local-swarm.ini - a DHT node, 4 expert servers and 2 trainers, each its own
# dmoe-node process on loopback, training a DMoE classifier on Fashion-MNIST. Trainer 0 draws
# the progress bar; every node logs to RUN_DIR/*.log; the trainers' metrics go to
# RUN_DIR/trainer-*.csv and, when gnuplot is installed, RUN_DIR/metrics.png.
# Settings come from configs/local-swarm.ini; DMOE_SWARM_<KEY> overrides one (e.g.
# DMOE_SWARM_EPOCHS=2, DMOE_SWARM_RUN_DIR=/tmp/run).
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
base_port=$(swarm_setting base-port)
servers=$(swarm_setting servers)
trainers=$(swarm_setting trainers)
epochs=$(swarm_setting epochs)
max_time=$(swarm_setting max-time)
run_dir=$(swarm_setting run-dir)
node=build/apps/dmoe-node
bootstrap="[\"127.0.0.1:$base_port\"]"
rm -rf "$run_dir" && mkdir -p "$run_dir"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "== local swarm: 1 DHT node, $servers expert servers, $trainers trainers (logs in $run_dir)"
$node --config-file=configs/dht-bootstrap.ini --node.port="$base_port" >"$run_dir/dht.log" 2>&1 &
pids+=($!)
for ((i = 0; i < servers; i++)); do
  $node --config-file=configs/server.ini --node.name="\"server-$i\"" \
    --node.port=$((base_port + 10 + i)) "--dht.bootstrap=$bootstrap" \
    "--server.expert-pattern=\"ffn.[$i:$((i + 1))].[0:4]\"" \
    "--server.checkpoint-dir=\"$run_dir/checkpoints-$i\"" --server.seed=$((i + 1)) \
    >"$run_dir/server-$i.log" 2>&1 &
  pids+=($!)
done
trainer_pids=()
for ((i = 0; i < trainers; i++)); do
  args=(--config-file=configs/trainer.ini --node.name="\"trainer-$i\""
        --node.port=$((base_port + 20 + i)) "--dht.bootstrap=$bootstrap"
        --trainer.epochs="$epochs" --trainer.max-time="$max_time" --trainer.seed=$((i + 1))
        "--trainer.metrics-csv=\"$run_dir/trainer-$i.csv\"")
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
echo "== inspect it live: build/apps/dmoe-shell 127.0.0.1:$((base_port + 20)) (try: experts, trainers)"

status=0
for p in "${trainer_pids[@]}"; do wait "$p" || status=1; done
echo "== trainers finished"
# The last CSV row of each trainer holds its final figures (columns: see the header).
for ((i = 0; i < trainers; i++)); do
  tail -n 1 "$run_dir/trainer-$i.csv" 2>/dev/null | awk -F, -v t="trainer-$i" '{
    printf "%s: %d steps (%d epochs), %d samples in %.0f s, %.0f samples/s, loss %.3f, test accuracy %.2f%%, %d failed steps\n",
      t, $2, $3 + 1, $4, $1, $8, $5, $7 * 100, $9 }'
done
if command -v gnuplot >/dev/null; then
  scripts/plot-metrics.sh "$run_dir/metrics.png" "$run_dir"/trainer-*.csv && \
    echo "== plot: $run_dir/metrics.png"
fi
echo "== metrics: $run_dir/trainer-*.csv"
exit $status
