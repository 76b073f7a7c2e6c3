#!/usr/bin/env bash
# The README's first command: installs what is needed, builds, and runs the main job described
# in configs/local-swarm.ini - a DHT node, 4 expert servers and 2 trainers, each its own
# dmoe-node process on loopback, training a DMoE classifier on Fashion-MNIST. Trainer 0 draws
# the progress bar; every node logs to RUN_DIR/*.log; the trainers' metrics go to
# RUN_DIR/trainer-*.csv and, when gnuplot is installed, RUN_DIR/metrics.png.
# Settings come from configs/local-swarm.ini; DMOE_SWARM_<KEY> overrides one (e.g.
# DMOE_SWARM_EPOCHS=2, DMOE_SWARM_RUN_DIR=/tmp/run, DMOE_SWARM_TLS=false).
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
base_port=$(swarm_setting base-port)
servers=$(swarm_setting servers)
trainers=$(swarm_setting trainers)
epochs=$(swarm_setting epochs)
max_time=$(swarm_setting max-time)
run_dir=$(swarm_setting run-dir)
tls=$(swarm_setting tls)
node=build/apps/dmoe-node
bootstrap="[\"127.0.0.1:$base_port\"]"
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

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "== local swarm: 1 DHT node, $servers expert servers, $trainers trainers (logs in $run_dir)"
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
    "--server.expert-pattern=\"ffn.[$i:$((i + 1))].[0:4]\"" \
    "--server.checkpoint-dir=\"$run_dir/checkpoints-$i\"" --server.seed=$((i + 1)) \
    $(tls_args "server-$i") >"$run_dir/server-$i.log" 2>&1 &
  pids+=($!)
done
trainer_pids=()
for ((i = 0; i < trainers; i++)); do
  args=(--config-file=configs/trainer.ini --node.name="\"trainer-$i\""
        --node.port=$((base_port + 20 + i)) "--dht.bootstrap=$bootstrap"
        --trainer.epochs="$epochs" --trainer.max-time="$max_time" --trainer.seed=$((i + 1))
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
