#!/usr/bin/env bash
# Plots trainers' metrics CSVs (loss and test accuracy over time) into a PNG with gnuplot.
#   scripts/plot-metrics.sh OUT.png trainer-0.csv [trainer-1.csv ...]
set -euo pipefail
out=$1; shift
loss_plots=() acc_plots=()
for csv in "$@"; do
  name=$(basename "$csv" .csv)
  loss_plots+=("'$csv' using 1:5 with lines title '$name loss'")
  acc_plots+=("'$csv' using 1:(\$7*100) with linespoints title '$name test accuracy'")
done
join() { local IFS=,; echo "$*"; }
gnuplot <<GP
set terminal pngcairo size 1000,700 noenhanced
set output '$out'
set datafile separator ','
set key autotitle columnhead
set multiplot layout 2,1 title 'dmoe local swarm: DMoE classifier on Fashion-MNIST'
set xlabel 'seconds'
set ylabel 'training loss'
plot $(join "${loss_plots[@]}")
set ylabel 'test accuracy (%)'
set yrange [70:100]
plot $(join "${acc_plots[@]}")
unset multiplot
GP
