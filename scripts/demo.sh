#!/usr/bin/env bash
# The README's first command. Until the trainer lands (issue 7) this is a short demo of what
# works: a DHT of five dmoe-node processes on loopback started from configs/, a store and a get
# through different nodes, a node killed with SIGKILL, the value still found; then the DHT and
# codec benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh >/dev/null
bin=build/apps
base_port=${DMOE_DEMO_PORT:-4100}
logs=$(mktemp -d /tmp/dmoe-demo.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== starting 5 DHT nodes on 127.0.0.1:${base_port}..$((base_port + 4)) (logs in $logs)"
$bin/dmoe-node --config-file=configs/dht-bootstrap.ini --node.port=$base_port >"$logs/dht-0.log" 2>&1 &
pids+=($!)
sleep 0.5
for i in 1 2 3 4; do
  $bin/dmoe-node --config-file=configs/dht-node.ini --node.name="\"dht-$i\"" \
    --node.port=$((base_port + i)) "--dht.bootstrap=[\"127.0.0.1:$base_port\"]" >"$logs/dht-$i.log" 2>&1 &
  pids+=($!)
done
sleep 1.5
echo "== store through node 1, get through node 3"
$bin/dmoe-dht --node 127.0.0.1:$((base_port + 1)) store ffn.3. server-a 127.0.0.1:5000 --ttl 120
$bin/dmoe-dht --node 127.0.0.1:$((base_port + 3)) get ffn.3.
echo "== SIGKILL node 1, get through node 4"
{ kill -KILL "${pids[1]}" && wait "${pids[1]}"; } 2>/dev/null || true
$bin/dmoe-dht --node 127.0.0.1:$((base_port + 4)) get ffn.3.
echo "== dmoe-bench dht --nodes 1000 --churn 0.25"
$bin/dmoe-bench dht --nodes 1000 --churn 0.25
echo "== dmoe-bench codec"
$bin/dmoe-bench codec
