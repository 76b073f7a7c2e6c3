#!/usr/bin/env bash
# Plots trainers' metrics CSVs into a PNG with gnuplot: for the language model, held-out bits
# per character and training loss against time; for the classifier, loss and test accuracy.
#   scripts/plot-metrics.sh OUT.png trainer-0.csv [trainer-1.csv ...]
set -euo pipefail
out=$1; shift
lm=false
head -n 1 "$1" | grep -q held_out_bpc && lm=true
top=() bottom=()
evals=$(mktemp -d)
trap 'rm -rf "$evals"' EXIT
for csv in "$@"; do
  name=$(basename "$csv" .csv)
  top+=("'$csv' using 1:5 with lines title '$name loss'")
  if $lm; then
    # Only rows written after an evaluation carry a held-out value.
    awk -F, 'NR == 1 || $6 != ""' "$csv" >"$evals/$name.csv"
    bottom+=("'$evals/$name.csv' using 1:6 with linespoints title '$name held-out'")
  else
    bottom+=("'$csv' using 1:(\$7*100) with linespoints title '$name test accuracy'")
  fi
done
join() { local IFS=,; echo "$*"; }
if $lm; then
  title='dmoe local swarm: DMoE Transformer language model on the King James Bible'
  bottom_label='held-out bits per character'
  bottom_range='set yrange [*:*]'
else
  title='dmoe local swarm: DMoE classifier on Fashion-MNIST'
  bottom_label='test accuracy (%)'
  bottom_range='set yrange [70:100]'
fi
gnuplot <<GP
set terminal pngcairo size 1000,700 noenhanced
set output '$out'
set datafile separator ','
set datafile missing ''
set key autotitle columnhead
set multiplot layout 2,1 title '$title'
set xlabel 'seconds'
set ylabel 'training loss'
plot $(join "${top[@]}")
set ylabel '$bottom_label'
$bottom_range
plot $(join "${bottom[@]}")
unset multiplot
GP
