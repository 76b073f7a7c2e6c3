#!/usr/bin/env bash
# Training through failures: runs the local swarm of the main job (a DHT bootstrap node, 4 expert
# servers, 2 trainers, each its own dmoe-node process on loopback, Fashion-MNIST) twice with the
# same seeds - once calm, once under a seeded schedule of faults at random times - and compares
# the trainers' final test accuracy.
#
#   scripts/chaos.sh [--quick] [--seed N] [--run-dir DIR]
#
# The chaos run's faults, each printed when it happens:
#   - SIGKILL of the DHT bootstrap node first (never restarted: every node that starts later
#     joins through the other peers in its dht.bootstrap list);
#   - SIGKILL of 2 of the 4 servers (different ones), each restarted a few seconds later from
#     its checkpoint directory (servers checkpoint every 5 s);
#   - SIGSTOP of a server for longer than the 2 s connection timeout, then SIGCONT;
#   - SIGKILL of trainer 1, restarted a few seconds later: it resumes from its own checkpoint
#     (parameters, optimizer, step and place in the data; every 10 s);
#   - an outage of the link in front of the last server (a dmoe-link relay it advertises).
# Both runs use the same settings (checkpoints included). The last line is
#   summary: baseline accuracy A%, chaos accuracy B%, drop D points, servers killed K,
#            restarted R, frozen F, trainer crashes C          (one line)
# where accuracy is the trainers' mean final test accuracy and a crash is a trainer process
# that failed or did not finish, other than the one the schedule killed. Exit code 0 when
# D <= 1.0, C = 0 and every restarted node resumed its checkpoint; 1 otherwise.
# Every process it starts is stopped when it ends or is interrupted; each run is bounded in
# time (trainer.max-time plus a margin).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
seed=7
run_root=/tmp/dmoe-chaos
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --seed) seed="$2"; shift ;;
    --run-dir) run_root="$2"; shift ;;
    *) echo "usage: scripts/chaos.sh [--quick] [--seed N] [--run-dir DIR]" >&2; exit 2 ;;
  esac
  shift
done
case "$seed" in ''|*[!0-9]*) echo "chaos: --seed needs a number" >&2; exit 2 ;; esac

scripts/install-deps.sh
scripts/build.sh >/dev/null

servers=4
trainers=2
epochs=8
[ "$quick" = 1 ] && epochs=3
max_time=1200                  # s, per trainer; a run is abandoned 120 s after that
base_port=4300
linked=$((servers - 1))        # the server behind a dmoe-link
node=build/apps/dmoe-node
link=build/apps/dmoe-link

all_pids=()
cleanup() {
  local p
  for p in "${all_pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 100); do
    local alive=0
    for p in "${all_pids[@]}"; do kill -0 "$p" 2>/dev/null && [ "$(proc_state "$p")" != Z ] && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${all_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  all_pids=()
}
trap cleanup EXIT
trap 'echo "chaos: interrupted" >&2; exit 130' INT TERM

# proc_state PID: R, S, T, Z ... or "gone".
proc_state() {
  local s
  s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || { echo gone; return; }
  echo "${s:-gone}"
}
# finished PID: true once the process has exited (a zombie counts).
finished() {
  local s
  s=$(proc_state "$1")
  [ "$s" = Z ] || [ "$s" = gone ]
}
now_ms() { date +%s%3N; }

server_port() { echo $((base_port + 10 + $1)); }
server_address() {   # what server i advertises
  if [ "$1" = "$linked" ]; then echo "127.0.0.1:$((base_port + 30 + $1))"; else echo "127.0.0.1:$(server_port "$1")"; fi
}
# bootstrap_for SELF: the bootstrap node and every server but SELF, as a dht.bootstrap list.
bootstrap_for() {
  local list="\"127.0.0.1:$base_port\"" i addr
  for ((i = 0; i < servers; i++)); do
    addr=$(server_address "$i")
    [ "$addr" = "$1" ] || list="$list,\"$addr\""
  done
  echo "[$list]"
}

start_dht() {
  $node --config-file=configs/dht-bootstrap.ini --node.port="$base_port" >"$run_dir/dht.log" 2>&1 &
  dht_pid=$!; all_pids+=("$dht_pid")
}
start_link() {
  $link --listen "$(server_address "$linked")" --target "127.0.0.1:$(server_port "$linked")" \
    >"$run_dir/link.log" 2>&1 &
  link_pid=$!; all_pids+=("$link_pid")
}
# start_server I LOG
start_server() {
  local i=$1 addr args
  addr=$(server_address "$i")
  args=(--config-file=configs/server.ini --node.name="\"server-$i\"" --node.port="$(server_port "$i")"
        "--dht.bootstrap=$(bootstrap_for "$addr")" "--server.expert-pattern=\"ffn.[$i:$((i + 1))].[0:4]\""
        "--server.checkpoint-dir=\"$run_dir/checkpoints-$i\"" --server.checkpoint-period=5s
        --server.seed=$((i + 1)))
  [ "$i" = "$linked" ] && args+=("--node.advertise=\"$addr\"")
  $node "${args[@]}" >"$2" 2>&1 &
  server_pid[$i]=$!; all_pids+=("$!")
}
# start_trainer I: appends to its log (a restarted trainer goes on in the same files).
start_trainer() {
  local i=$1
  $node --config-file=configs/trainer.ini --node.name="\"trainer-$i\"" --node.port=$((base_port + 20 + i)) \
    "--dht.bootstrap=$(bootstrap_for none)" --trainer.epochs="$epochs" --trainer.max-time="${max_time}s" \
    --trainer.seed=$((i + 1)) "--trainer.metrics-csv=\"$run_dir/trainer-$i.csv\"" \
    "--trainer.checkpoint-dir=\"$run_dir/trainer-checkpoint-$i\"" --trainer.checkpoint-period=10s \
    >>"$run_dir/trainer-$i.log" 2>&1 &
  trainer_pid[$i]=$!; all_pids+=("$!")
}

# The chaos schedule for a run expected to last RUN_S seconds: lines "MS ACTION ARG", sorted.
# Faults fall in [15 %, 75 %] of the run, one per slot of equal length, the bootstrap kill in
# the first slot; RANDOM is seeded, so a seed gives the same schedule.
make_schedule() {
  local run_s=$1 begin len slot i t victim_a victim_b frozen
  RANDOM=$seed
  begin=$((run_s * 150))               # ms
  len=$(((run_s * 600) / 6))           # ms per slot, 6 slots
  at() { echo $((begin + $1 * len + RANDOM % (len / 3))); }
  victim_a=$((RANDOM % servers))
  victim_b=$(((victim_a + 1 + RANDOM % (servers - 1)) % servers))
  frozen=$((RANDOM % servers))
  local order=(1 2 3 4 5) j tmp
  for ((i = 4; i > 0; i--)); do j=$((RANDOM % (i + 1))); tmp=${order[$i]}; order[$i]=${order[$j]}; order[$j]=$tmp; done
  {
    echo "$(at 0) kill-dht -"
    t=$(at "${order[0]}"); echo "$t kill-server $victim_a"; echo "$((t + 3000 + RANDOM % 5000)) restart-server $victim_a"
    t=$(at "${order[1]}"); echo "$t kill-server $victim_b"; echo "$((t + 3000 + RANDOM % 5000)) restart-server $victim_b"
    t=$(at "${order[2]}"); echo "$t freeze-server $frozen"; echo "$((t + 5000)) thaw-server $frozen"
    t=$(at "${order[3]}"); echo "$t kill-trainer 1"; echo "$((t + 5000)) restart-trainer 1"
    t=$(at "${order[4]}"); echo "$t cut-link $linked"; echo "$((t + 6000)) restore-link $linked"
  } | sort -n
}

status_line() {
  local i out="" row
  for ((i = 0; i < trainers; i++)); do
    row=$(tail -n 1 "$run_dir/trainer-$i.csv" 2>/dev/null || true)
    case "$row" in ''|time_s*) out="$out trainer-$i starting;" ;;
      *) out="$out$(echo "$row" | awk -F, -v t="trainer-$i" '{printf " %s step %d loss %.3f test %s%%, %d failed steps;", t, $2, $5, ($7 == "" ? "-" : sprintf("%.1f", $7 * 100)), $9}')" ;;
    esac
  done
  echo "$out"
}

# run_swarm NAME [SCHEDULE_FILE]: one whole run; sets run_s (its length) and crashes.
run_swarm() {
  local name=$1 schedule=${2:-}
  run_dir="$run_root/$name"
  rm -rf "$run_dir" && mkdir -p "$run_dir"
  declare -g -A server_pid=() trainer_pid=() restarts=() awaiting_restart=()
  killed=0 restarted=0 frozen=0 crashes=0
  local i
  echo "== $name run: 1 DHT node, $servers servers (server-$linked behind dmoe-link), $trainers trainers, $epochs epochs (logs in $run_dir)"
  start_dht
  start_link
  sleep 1
  for ((i = 0; i < servers; i++)); do start_server "$i" "$run_dir/server-$i.log"; done
  sleep 2
  for ((i = 0; i < trainers; i++)); do start_trainer "$i"; done
  local t0 events=() next=0 last_status
  t0=$(now_ms); last_status=$t0
  [ -n "$schedule" ] && mapfile -t events <"$schedule"
  local running=$trainers deadline=$((t0 + (max_time + 120) * 1000))
  declare -A done_trainer=()
  while [ "$running" -gt 0 ]; do
    local now; now=$(now_ms)
    while [ "$next" -lt "${#events[@]}" ]; do
      read -r at action arg <<<"${events[$next]}"
      [ "$((now - t0))" -ge "$at" ] || break
      next=$((next + 1))
      local stamp; stamp=$(awk -v ms="$((now - t0))" 'BEGIN{printf "%7.1f s", ms / 1000}')
      case "$action" in
        kill-dht) kill -KILL "$dht_pid"; wait "$dht_pid" 2>/dev/null || true; echo "[$stamp] SIGKILL dht bootstrap node (pid $dht_pid); it stays down" ;;
        kill-server) kill -KILL "${server_pid[$arg]}"; wait "${server_pid[$arg]}" 2>/dev/null || true
          killed=$((killed + 1))
          echo "[$stamp] SIGKILL server-$arg (pid ${server_pid[$arg]})" ;;
        restart-server) restarts[$arg]=$(( ${restarts[$arg]:-0} + 1 ))
          start_server "$arg" "$run_dir/server-$arg.restart-${restarts[$arg]}.log"; restarted=$((restarted + 1))
          echo "[$stamp] restart server-$arg from $run_dir/checkpoints-$arg (pid ${server_pid[$arg]})" ;;
        freeze-server) kill -STOP "${server_pid[$arg]}"; frozen=$((frozen + 1))
          echo "[$stamp] SIGSTOP server-$arg (pid ${server_pid[$arg]}) for 5 s" ;;
        thaw-server) kill -CONT "${server_pid[$arg]}"; echo "[$stamp] SIGCONT server-$arg" ;;
        kill-trainer)
          if finished "${trainer_pid[$arg]}"; then echo "[$stamp] trainer-$arg already finished: not killed"; continue; fi
          kill -KILL "${trainer_pid[$arg]}"; wait "${trainer_pid[$arg]}" 2>/dev/null || true
          awaiting_restart[$arg]=1; echo "[$stamp] SIGKILL trainer-$arg (pid ${trainer_pid[$arg]})" ;;
        restart-trainer)
          [ -n "${awaiting_restart[$arg]:-}" ] || continue
          unset "awaiting_restart[$arg]"; start_trainer "$arg"
          echo "[$stamp] restart trainer-$arg from its checkpoint (pid ${trainer_pid[$arg]})" ;;
        cut-link) kill -USR1 "$link_pid"; echo "[$stamp] link to server-$arg down for 6 s" ;;
        restore-link) kill -USR2 "$link_pid"; echo "[$stamp] link to server-$arg up" ;;
      esac
    done
    running=0
    for ((i = 0; i < trainers; i++)); do
      [ -n "${done_trainer[$i]:-}" ] && continue
      if [ -n "${awaiting_restart[$i]:-}" ]; then
        running=$((running + 1)); continue   # killed by the schedule, its restart is still to come
      fi
      if finished "${trainer_pid[$i]}"; then
        local rc=0; wait "${trainer_pid[$i]}" || rc=$?
        done_trainer[$i]=1
        if [ "$rc" != 0 ]; then crashes=$((crashes + 1)); echo "trainer-$i exited with code $rc (see $run_dir/trainer-$i.log)"; fi
      else
        running=$((running + 1))
      fi
    done
    if [ "$now" -gt "$deadline" ]; then
      echo "chaos: the $name run did not end in time; counting unfinished trainers as crashes"
      crashes=$((crashes + running)); break
    fi
    if [ $((now - last_status)) -ge 30000 ]; then
      echo "[$(awk -v ms="$((now - t0))" 'BEGIN{printf "%7.1f s", ms / 1000}')]$(status_line)"; last_status=$now
    fi
    sleep 0.2
  done
  run_s=$(( ($(now_ms) - t0) / 1000 ))
  cleanup
  echo "== $name run ended after $run_s s"
}

# accuracy: the trainers' mean final test accuracy in percent (last CSV row, column 7).
accuracy() {
  local i sum=0 acc
  for ((i = 0; i < trainers; i++)); do
    acc=$(tail -n 1 "$run_dir/trainer-$i.csv" | awk -F, '{print ($7 == "" ? 0 : $7 * 100)}')
    echo "   trainer-$i: $(tail -n 1 "$run_dir/trainer-$i.csv" | awk -F, '{printf "%d steps, test accuracy %.2f%%, %d failed steps", $2, $7 * 100, $9}')" >&2
    sum=$(awk -v a="$sum" -v b="$acc" 'BEGIN{print a + b}')
  done
  awk -v s="$sum" -v n="$trainers" 'BEGIN{printf "%.2f", s / n}'
}

mkdir -p "$run_root"
run_swarm baseline
baseline=$(accuracy)
baseline_crashes=$crashes
echo "== baseline: mean test accuracy $baseline%"

make_schedule "$run_s" >"$run_root/schedule.txt"
echo "== chaos schedule (seed $seed, for a run of about $run_s s): $run_root/schedule.txt"
run_swarm chaos "$run_root/schedule.txt"
chaos=$(accuracy)
[ "$baseline_crashes" = 0 ] || echo "chaos: $baseline_crashes trainer(s) of the calm run failed too"

# Did every restarted node resume its checkpoint? Servers: the updates they restored against
# the last whole checkpoint round their killed process logged; the trainer: its resume line.
resumed_ok=1
for log in "$run_dir"/server-*.restart-*.log; do
  [ -e "$log" ] || continue
  i=$(basename "$log" | sed 's/server-\([0-9]*\)\..*/\1/')
  n=$(basename "$log" | sed 's/.*restart-\([0-9]*\)\.log/\1/')
  before="$run_dir/server-$i.log"; [ "$n" -gt 1 ] && before="$run_dir/server-$i.restart-$((n - 1)).log"
  saved=$(grep -o 'checkpoint round [0-9]*: 4 saved, 0 failed, [0-9]* updates' "$before" | tail -n 1 | awk '{print $(NF-1)}')
  restored=$(grep -o 'restored [0-9]* of [0-9]* experts from .*, [0-9]* updates' "$log" | tail -n 1 | awk '{print $(NF-1)}')
  echo "   server-$i restart $n: last whole checkpoint before the kill ${saved:-none} updates, restored ${restored:-nothing}"
  if [ -z "$restored" ] || [ -z "$saved" ] || [ "$restored" -lt "$saved" ]; then resumed_ok=0; fi
done
if grep -q 'kill-trainer' "$run_root/schedule.txt"; then
  line=$(grep -o 'resumed from .*' "$run_dir/trainer-1.log" | tail -n 1 || true)
  echo "   trainer-1: ${line:-did not resume}"
  [ -n "$line" ] || resumed_ok=0
fi

downs=$(cat "$run_dir"/trainer-*.log | grep -c 'is down; avoiding it' || true)
revived=$(cat "$run_dir"/trainer-*.log | grep -c 'is reachable again' || true)
skipped=$(cat "$run_dir"/trainer-*.log | grep -c 'a step was skipped' || true)
echo "   routers: a server went down $downs times and was called again $revived times; $skipped steps skipped"
for log in "$run_dir"/server-*.restart-*.log; do
  [ -e "$log" ] || continue
  echo "   $(basename "$log" .log): $(grep -o 'joined through [0-9]* bootstrap peer(s)' "$log" | head -n 1 || echo 'never joined the DHT')"
done

drop=$(awk -v a="$baseline" -v b="$chaos" 'BEGIN{printf "%.2f", a - b}')
echo "summary: baseline accuracy $baseline%, chaos accuracy $chaos%, drop $drop points, servers killed $killed, restarted $restarted, frozen $frozen, trainer crashes $crashes"
awk -v d="$drop" 'BEGIN{exit !(d <= 1.0)}' && [ "$crashes" = 0 ] && [ "$baseline_crashes" = 0 ] \
  && [ "$resumed_ok" = 1 ] && [ "$restarted" = "$killed" ]
