#!/usr/bin/env bash
# One model from many trainers: N language-model trainers, each its own dmoe-node behind its
# own dmoe-link (RTT/2 delay each way, a rate cap), averaging their shared parameters every H
# steps (DiLoCo outer steps over the butterfly all-reduce, averaging.*), against the same N
# trainers trained alone (averaging.every = 0) on the same samples (same seeds, same steps).
# The trainers compute their whole model locally (trainer.model = dense: the feed-forward layers
# as wide as the k_best experts a token would use), so every parameter is a shared one and no
# expert server competes for the cores; the averaging is the same as in a swarm with experts.
#
# It prints, per trainer of the averaged run, its traffic and time in rounds, and ends with
#   summary: trainers=N H=S bytes/round=B traffic vs data-parallel=1/X utilization=U averaged bpc=A alone bpc=L
# B: bytes one trainer sent and received per round (mean); X: what data-parallel training would
# have moved per trainer over the same steps (a butterfly all-reduce of float32 gradients every
# step: 4 (N-1)/N x 4 bytes per parameter, sent and received) over what averaging moved;
# U: 1 - (seconds training waited for averaging / wall seconds), the mean over trainers; A: the averaged model's
# held-out bits per character (every trainer ends with it); L: the best trainer's trained alone.
#   scripts/reproduce-averaging.sh [--quick] [--out DIR] [--trainers N] [--every H] [--steps S]
#                                  [--compression none|float16|int8] [--rtt-ms 100] [--rate 10mbit]
#                                  [--outer-lr 1.0] [--outer-momentum 0.0]   (plain averaging, as configs/lm-trainer.ini)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0 out="" trainers=4 every=100 steps=800 compression=int8 rtt_ms=100 rate=10mbit
outer_lr=1.0 outer_momentum=0.0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out=$2; shift ;;
    --trainers) trainers=$2; shift ;;
    --every) every=$2; shift ;;
    --steps) steps=$2; shift ;;
    --compression) compression=$2; shift ;;
    --rtt-ms) rtt_ms=$2; shift ;;
    --rate) rate=$2; shift ;;
    --outer-lr) outer_lr=$2; shift ;;
    --outer-momentum) outer_momentum=$2; shift ;;
    *) echo "usage: scripts/reproduce-averaging.sh [--quick] [--out DIR] [--trainers N] [--every H] [--steps S] [--compression C] [--rtt-ms MS] [--rate R]" >&2; exit 2 ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then
  steps=300 every=50 out=${out:-/tmp/dmoe-averaging-quick}
else
  out=${out:-/tmp/dmoe-averaging}
fi
hidden=128 layers=2 context=64 batch=16 base_port=4500
rm -rf "$out" && mkdir -p "$out"
scripts/install-deps.sh >/dev/null
scripts/build.sh >/dev/null
node=build/apps/dmoe-node
link=build/apps/dmoe-link
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# The tokenizer once, shared by every trainer of both runs.
$node --config-file=configs/lm-trainer.ini --node.roles='["dht", "trainer"]' \
  --node.port=$((base_port - 1)) --dht.bootstrap='[]' --trainer.model='"dense"' \
  --trainer.max-steps=1 --trainer.cache-dir="\"$out/cache\"" >"$out/tokenizer.log" 2>&1

# run_trainers NAME EVERY: a DHT node and N trainers behind their links, until all are done.
run_trainers() {
  local name=$1 run_every=$2 dir="$out/$1" port=$base_port i
  mkdir -p "$dir"
  $node --config-file=configs/dht-bootstrap.ini --node.port=$port >"$dir/dht.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  local trainer_pids=()
  for ((i = 0; i < trainers; i++)); do
    local own=$((port + 10 + i)) linked=$((port + 30 + i))
    $link --listen "127.0.0.1:$linked" --target "127.0.0.1:$own" --delay "$((rtt_ms / 2))ms" \
      --rate "$rate" >"$dir/link-$i.log" 2>&1 &
    pids+=($!)
    $node --config-file=configs/lm-trainer.ini --node.roles='["dht", "trainer"]' \
      --node.name="\"trainer-$i\"" --node.port=$own --node.advertise="\"127.0.0.1:$linked\"" \
      --dht.bootstrap="[\"127.0.0.1:$port\"]" --trainer.model='"dense"' \
      --trainer.hidden=$hidden --trainer.moe-layers=$layers --trainer.context=$context \
      --trainer.batch-size=$batch --trainer.max-steps="$steps" --trainer.max-time=7200s \
      --trainer.eval-every=100000 --trainer.eval-samples=0 --trainer.seed=$((i + 1)) \
      --trainer.cache-dir="\"$out/cache\"" --trainer.metrics-csv="\"$dir/trainer-$i.csv\"" \
      --averaging.every="$run_every" --averaging.compression="\"$compression\"" \
      --averaging.gather-timeout=30s --averaging.round-timeout=60s \
      --averaging.outer-learning-rate="$outer_lr" --averaging.outer-momentum="$outer_momentum" \
      >"$dir/trainer-$i.log" 2>&1 &
    trainer_pids+=($!)
    pids+=($!)
  done
  local status=0
  for p in "${trainer_pids[@]}"; do wait "$p" || status=1; done
  cleanup
  pids=()
  return $status
}

echo "== $trainers trainers, $steps steps each, links ${rtt_ms} ms RTT at $rate (logs in $out)"
echo "== averaged: an outer step every $every steps (outer lr $outer_lr, momentum $outer_momentum), $compression on the wire"
run_trainers averaged "$every"
echo "== alone: the same trainers without averaging"
run_trainers alone 0

last_row() { tail -n 1 "$1"; }
params=$(grep -o 'averaging [0-9]* shared parameters' "$out/averaged/trainer-0.log" | head -n 1 | awk '{print $2}')
awk -F, -v n="$trainers" -v steps="$steps" -v p="$params" -v h="$every" \
    -v alone="$(for ((i = 0; i < trainers; i++)); do last_row "$out/alone/trainer-$i.csv" | cut -d, -f6; done | sort -n | head -n 1)" '
  FNR == 1 { next }
  { last[FILENAME] = $0 }
  END {
    for (f in last) {
      split(last[f], c, ",")
      mb += c[14]; secs += c[15]; wall += c[1]; rounds += c[13]; bpc[f] = c[6]; count++
      printf "%s: %d outer steps, %.1f MB sent and received, %.1f s of %.1f s paused for averaging, held-out %s\n",
        f, c[13], c[14], c[15], c[1], c[6]
    }
    per_round = mb * 1e6 / rounds
    dp = steps * 4 * (n - 1) / n * 4 * p          # per trainer, sent and received
    x = dp / (mb * 1e6 / count)
    util = 1 - secs / wall
    any = ""; same = 1
    for (f in bpc) { if (any == "") any = bpc[f]; else if (bpc[f] != any) same = 0 }
    if (!same) print "warning: the averaged trainers ended with different held-out figures"
    printf "summary: trainers=%d H=%d bytes/round=%.0f traffic vs data-parallel=1/%.0f utilization=%.3f averaged bpc=%s alone bpc=%s\n",
      n, h, per_round, x, util, any, alone
  }' "$out"/averaged/trainer-*.csv | tee "$out/results.txt"
