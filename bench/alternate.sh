#!/bin/bash
# Two daemons side by side, one qemu-img bench client alternating between
# them (A B, B A, ...) N times against one long-lived daemon each; prints
# the median wall time and the median daemon CPU (user + system, all
# threads) per request of each. CPU per request is the steadier figure on
# a shared VM: steal and preemption stretch wall time far more than CPU.
#
#   A_BUILD / B_BUILD   blockgate build roots (default: dist / B_BUILD required
#                       unless B_NBDKIT=1, which runs `nbdkit file` as B)
#   A_ENV / B_ENV       extra environment for each ("K=V K=V")
#   PROTO=nbd|iscsi  W=-w (writes)  N=8 rounds  COUNT=100000  DEPTH=32  SIZE=4096
#
# Example (this tree against a build of the commit before):
#   B_BUILD=/tmp/bgbase-dist N=8 bash bench/alternate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-8}; COUNT=${COUNT:-100000}; DEPTH=${DEPTH:-32}; SIZE=${SIZE:-4096}; PROTO=${PROTO:-nbd}; W=${W:-}
A_BUILD=${A_BUILD:-$PWD/dist}
WORK=$(mktemp -d /tmp/blockgate-alternate.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

head -c $((1024 * 1024 * 1024)) /dev/urandom > "$WORK/image"
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# start NAME BUILD ENV -> PORT_NAME, PID_NAME
start() {
  local d=$WORK/$1 port; port=$(free_port); mkdir -p "$d"; cp "$WORK/image" "$d/default.img"
  if [ "$2" = nbdkit ]; then
    nbdkit -f -p "$port" -i 127.0.0.1 --exportname=default file "$d/default.img" &
  else
    # shellcheck disable=SC2086
    env $3 node "$2/src/bin/blockgate.cjs" serve --data-dir "$d" --admin-socket "$d/admin.sock" \
      --iscsi-portal "127.0.0.1:$((port + 1))" --nbd-listen "127.0.0.1:$port" --metrics-listen off > "$d/log" 2>&1 &
  fi
  PIDS+=($!); eval "PID_$1=$! PORT_$1=$port"
  local p=$port; [ "$PROTO" = iscsi ] && p=$((port + 1))
  for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$p") 2>/dev/null && return; sleep 0.1; done
  echo "$1 did not start" >&2; exit 1
}
start A "$A_BUILD" "${A_ENV:-}"
if [ -n "${B_NBDKIT:-}" ]; then start B nbdkit ""; else start B "${B_BUILD:?B_BUILD or B_NBDKIT=1}" "${B_ENV:-}"; fi

url() { if [ "$PROTO" = iscsi ]; then echo "iscsi://127.0.0.1:$(($1 + 1))/iqn.2026-11.io.blockgate:default/1"; else echo "nbd://127.0.0.1:$1/default"; fi; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
bench() { qemu-img bench -f raw -t none -c "$2" -d "$DEPTH" -s "$SIZE" -S "$SIZE" $W "$(url "$1")"; }

for x in A B; do eval "bench \$PORT_$x 20000" > /dev/null; done # warm-up: JIT, page cache
TICK_NS=$((1000000000 / $(getconf CLK_TCK)))
for r in $(seq "$N"); do
  if [ $((r % 2)) = 1 ]; then order="A B"; else order="B A"; fi
  for x in $order; do
    eval "port=\$PORT_$x pid=\$PID_$x"
    c0=$(cpu_ticks "$pid")
    secs=$(bench "$port" "$COUNT" | sed -n 's/.*completed in \([0-9.]*\) seconds.*/\1/p')
    c1=$(cpu_ticks "$pid")
    echo "$x $secs $(((c1 - c0) * TICK_NS / COUNT))"
  done
done > "$WORK/runs"

python3 - "$WORK/runs" "$PROTO" "$W" "$SIZE" "$DEPTH" <<'PY'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {k: (st.median(float(r[1]) for r in rows if r[0] == k), st.median(int(r[2]) for r in rows if r[0] == k)) for k in 'AB'}
print(f"{sys.argv[2]} {'write' if sys.argv[3] else 'read'} {sys.argv[4]} B QD{sys.argv[5]}, {len(rows) // 2} rounds")
for k in 'AB':
    print(f"  {k}: median {med[k][0]:.3f} s, daemon CPU {med[k][1]:.0f} ns/request; runs: " + ' '.join(r[1] for r in rows if r[0] == k))
print(f"  A speed ÷ B: ×{med['B'][0] / med['A'][0]:.3f}; A CPU ÷ B: ×{med['A'][1] / med['B'][1]:.3f}")
PY
