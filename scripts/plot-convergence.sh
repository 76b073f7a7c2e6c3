#!/usr/bin/env bash
# Plots the convergence runs' metrics CSVs: test accuracy against wall time and against samples.
#   scripts/plot-convergence.sh OUT.png RUN.csv [RUN.csv ...]    (a run's name: its file name)
set -euo pipefail
out=$1; shift
time_plots=() sample_plots=()
for csv in "$@"; do
  name=$(basename "$csv" .csv)
  time_plots+=("'$csv' using 1:(\$7*100) with linespoints lw 2 pt 7 ps 0.7 title '$name'")
  sample_plots+=("'$csv' using (\$4/1000):(\$7*100) with linespoints lw 2 pt 7 ps 0.7 title '$name'")
done
join() { local IFS=,; echo "$*"; }
gnuplot <<GP
set terminal pngcairo size 1100,900 noenhanced
set output '$out'
set datafile separator ','
set key outside right
set grid
set multiplot layout 2,1 title 'DMoE (64, 256 experts; RTT 0, 100, 1000 ms; 10 % failed calls) vs large ffn on Fashion-MNIST'
set ylabel 'test accuracy (%)'
set yrange [*:92]
set xrange [0:*]
set xlabel 'wall time of training (s)'
plot $(join "${time_plots[@]}")
set xlabel 'training samples (thousands)'
plot $(join "${sample_plots[@]}")
unset multiplot
GP
