#!/usr/bin/env bash
# The language model through the swarm against dense Transformers trained in-process, with the
# same text, tokenizer, tokens seen and optimizer settings:
#   (a) dmoe:              a local swarm (DHT + 4 servers + 2 trainers), each block's feed-forward
#                          layer a DMoE layer routing every token to its k_best experts;
#   (b) dense-same-compute: each of those layers one local ffn as wide as the k_best experts a
#                          token uses (trainer.model = dense);
#   (c) dense-same-params: one local ffn as wide as all the grid's experts (largeffn);
#   (d) sequence:          the paper's layout through the same swarm shape: each block a DMoE
#                          layer whose experts are whole causal Transformer blocks
#                          (causal-transformer), each sequence routed to its k_best of them
#                          (moe.routing = sequence); skipped by --quick unless --only names it.
# Writes DIR/<run>.csv (the trainers' metrics), DIR/results.csv, DIR/lm.png (held-out bits per
# character against tokens and against wall time) and ends with one line:
#   summary: dmoe bpc=X; dense-same-compute bpc=Y; dense-same-params bpc=Z; dmoe tokens/s / dense-same-compute tokens/s=R
# X is trainer 0's held-out bits per character (each trainer trains its own model on as many
# tokens as the dense runs); R compares the swarm's tokens/s (both trainers) with (b)'s.
#   scripts/reproduce-lm.sh [--quick] [--out DIR] [--only dmoe,dense,largeffn,sequence]
set -euo pipefail
cd "$(dirname "$0")/.."
arguments="$*"
quick=0
out=""
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out=$2; shift ;;
    --only) only=$2; shift ;;
    *) echo "usage: scripts/reproduce-lm.sh [--quick] [--out DIR] [--only RUN,...]" >&2; exit 2 ;;
  esac
  shift
done
# The same settings for every run; --quick is smaller so that the dense-same-params run (every
# expert's worth of compute for every token, in one process) fits in minutes.
if [ "$quick" = 1 ]; then
  layers=2 steps=200 eval_every=50 out=${out:-/tmp/dmoe-lm-quick} only=${only:-dmoe,dense,largeffn}
else
  layers=4 steps=1200 eval_every=200 out=${out:-/tmp/dmoe-lm} only=${only:-dmoe,dense,largeffn,sequence}
fi
hidden=256 batch=16 context=128 k_best=2 base_port=4300
mkdir -p "$out"
scripts/install-deps.sh >/dev/null
scripts/build.sh >/dev/null
node=build/apps/dmoe-node
common=(--trainer.task='"language-model"' --trainer.hidden=$hidden --trainer.moe-layers=$layers
        --trainer.context=$context --trainer.batch-size=$batch --trainer.epochs=0
        --trainer.max-steps=$steps --trainer.max-time=3600s --trainer.eval-every=$eval_every
        --trainer.eval-samples=64 --moe.k-best=$k_best --node.log-level='"info"')
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# A local swarm: DHT + 4 servers (server i hosts row i of every block's grid) + 2 trainers.
# run_dmoe NAME ROUTING: token (ffn experts of grids ffn, ffn-1, ...) or sequence (whole
# causal-transformer blocks of grids block, block-1, ...).
run_dmoe() {
  local name=$1 routing=$2
  local dir=$out/$name-logs prefix=ffn type=ffn
  [ "$routing" = sequence ] && prefix=block type=causal-transformer
  rm -rf "$dir" && mkdir -p "$dir"
  $node --config-file=configs/dht-bootstrap.ini --node.port=$base_port >"$dir/dht.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$base_port") 2>/dev/null && break; sleep 0.1; done
  for ((i = 0; i < 4; i++)); do
    local grids=("$prefix") rows=()
    for ((l = 1; l < layers; l++)); do grids+=("$prefix-$l"); done
    for g in "${grids[@]}"; do rows+=("$g.[$i:$((i + 1))].[0:4]"); done
    local pattern
    pattern=$(IFS=,; echo "${rows[*]}")
    $node --config-file=configs/server.ini --node.name="\"server-$i\"" --node.port=$((base_port + 10 + i)) \
      "--dht.bootstrap=[\"127.0.0.1:$base_port\"]" "--server.expert-pattern=\"$pattern\"" \
      --server.hidden=$hidden --server.expert-type="\"$type\"" --server.seed=$((i + 1)) \
      >"$dir/server-$i.log" 2>&1 &
    pids+=($!)
  done
  local trainers=()
  for ((i = 0; i < 2; i++)); do
    $node --config-file=configs/lm-trainer.ini --node.name="\"trainer-$i\"" \
      "--dht.bootstrap=[\"127.0.0.1:$base_port\"]" "${common[@]}" --trainer.seed=$((i + 1)) \
      --moe.routing="\"$routing\"" --moe.expert-prefix="\"$prefix\"" \
      "--trainer.metrics-csv=\"$out/$name-$i.csv\"" >"$dir/trainer-$i.log" 2>&1 &
    trainers+=($!)
  done
  local status=0
  for p in "${trainers[@]}"; do wait "$p" || status=1; done
  cleanup
  pids=()
  return $status
}

# A dense model computes everything in the trainer's process: a lone node (its DHT role has no
# peers; no router is called).
run_dense() {
  local name=$1 model=$2
  $node --node.name="\"$name\"" --node.roles='["dht", "trainer"]' "${common[@]}" \
    --trainer.model="\"$model\"" --trainer.seed=1 "--trainer.metrics-csv=\"$out/$name.csv\"" \
    >"$out/$name.log" 2>&1
}

echo "== $layers blocks of width $hidden, context $context, batch $batch, $steps steps per trainer, k_best $k_best (results in $out)"
for run in ${only//,/ }; do
  start=$(date +%s)
  case "$run" in
    dmoe) run_dmoe dmoe token ;;
    sequence) run_dmoe sequence sequence ;;
    dense) run_dense dense dense ;;
    largeffn) run_dense largeffn largeffn ;;
    *) echo "unknown run '$run'" >&2; exit 2 ;;
  esac
  echo "== $run: $(( $(date +%s) - start )) s"
done

# The last row of a run's CSV is its final evaluation (columns: actors/trainer/metrics_csv.hpp).
{
  echo "run,tokens,held_out_bpc,test_bpc,tokens_per_s,seconds"
  for csv in "$out"/dmoe-0.csv "$out"/dmoe-1.csv "$out"/dense.csv "$out"/largeffn.csv \
    "$out"/sequence-0.csv "$out"/sequence-1.csv; do
    [ -f "$csv" ] || continue
    tail -n 1 "$csv" | awk -F, -v r="$(basename "$csv" .csv)" '{print r "," $4 "," $6 "," $11 "," $7 "," $1}'
  done
} >"$out/results.csv"
column -t -s, "$out/results.csv"
value() { awk -F, -v r="$1" -v c="$2" '$1 == r {print $c}' "$out/results.csv"; }
x=$(value dmoe-0 3) y=$(value dense 3) z=$(value largeffn 3)
swarm_rate=$(awk -F, '$1 ~ /^dmoe-/ {s += $5} END {print s}' "$out/results.csv")
dense_rate=$(value dense 5)
r=$(awk -v a="${swarm_rate:-0}" -v b="${dense_rate:-0}" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "?"}')
if command -v gnuplot >/dev/null; then
  plots_tokens=() plots_time=()
  for csv in "$out"/dmoe-0.csv "$out"/dense.csv "$out"/largeffn.csv "$out"/sequence-0.csv; do
    [ -f "$csv" ] || continue
    name=$(basename "$csv" .csv)
    # Only rows written after an evaluation carry a held-out value.
    awk -F, 'NR == 1 || $6 != ""' "$csv" >"$out/$name.held-out.csv"
    plots_tokens+=("'$out/$name.held-out.csv' using 4:6 with linespoints title '$name'")
    plots_time+=("'$out/$name.held-out.csv' using 1:6 with linespoints title '$name'")
  done
  join() { local IFS=,; echo "$*"; }
  gnuplot <<GP || echo "(no plot: gnuplot failed)"
set terminal pngcairo size 1000,800 noenhanced
set output '$out/lm.png'
set datafile separator ','
set datafile missing ''
set key autotitle columnhead
set multiplot layout 2,1 title 'held-out bits per character: DMoE through a swarm vs dense in-process ($layers blocks, width $hidden)'
set xlabel 'tokens seen (per trainer)'
set ylabel 'bits per character'
plot $(join "${plots_tokens[@]}")
set xlabel 'seconds'
plot $(join "${plots_time[@]}")
unset multiplot
GP
  echo "== plot: $out/lm.png"
fi
command="scripts/reproduce-lm.sh${arguments:+ $arguments}"
{
  echo "# The language model: DMoE through a swarm against dense models"
  echo
  echo "Made by \`$command\` on $(date -u +%F) ($(git rev-parse --short HEAD 2>/dev/null || echo '?')):"
  echo "$layers blocks of width $hidden, context $context, batch $batch, $steps steps per trainer, k_best $k_best."
  echo
  echo "| run | tokens | held-out bpc | test bpc | tokens/s | seconds |"
  echo "|---|---|---|---|---|---|"
  tail -n +2 "$out/results.csv" | awk -F, '{printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6}'
  echo
  echo "![held-out bits per character](lm.png)"
} >"$out/README.md"
echo "== table: $out/README.md"
if [ -n "$(value sequence-0 3)" ]; then
  sequence_rate=$(awk -F, '$1 ~ /^sequence-/ {s += $5} END {print s}' "$out/results.csv")
  echo "== sequence (whole-block experts, the paper's layout): bpc=$(value sequence-0 3), swarm tokens/s=$sequence_rate (token routing: $swarm_rate)"
fi
echo "summary: dmoe bpc=${x:-?}; dense-same-compute bpc=${y:-?}; dense-same-params bpc=${z:-?}; dmoe tokens/s / dense-same-compute tokens/s=$r"
