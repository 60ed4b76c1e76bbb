#!/usr/bin/env bash
# Benchmark the Engine API's overhead: p50/p99 of 2,000 `GET /containers/json` (20 containers) on
# one kept-alive connection, and the wall time of `docker ps` (the real docker CLI: one process, a
# ping, a list), each against `baleia daemon` and against a private dockerd when Docker is
# installed; `baleia ps` daemonless and as a client (`-H`) for comparison. Containers run with
# `--network none`: nothing is sent anywhere, and nothing is left behind.
#
#   bash bench/api.sh          (as root; Markdown on stdout, raw numbers in bench/results/api.*)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null; }; }
need hyperfine hyperfine
need python3 python3

BIN=${BALEIA:-$PWD/target/release/baleia}
[ -x "$BIN" ] || cargo build --release -p baleia-engine
WORK=$(mktemp -d /tmp/baleia-bench-api.XXXXXX)
BALEIA_PID= DOCKERD_PID=
cleanup() {
  [ -z "$BALEIA_PID" ] || { kill "$BALEIA_PID" 2>/dev/null; wait "$BALEIA_PID" 2>/dev/null || true; }
  if [ -n "$DOCKERD_PID" ]; then
    docker ps -aq 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1 || true
    kill "$DOCKERD_PID" 2>/dev/null; wait "$DOCKERD_PID" 2>/dev/null || true
  fi
  "$BIN" ps -aq 2>/dev/null | xargs -r "$BIN" rm -f >/dev/null 2>&1 || true
  "$BIN" system teardown >/dev/null 2>&1 || true
  awk -v w="$WORK" '$2 ~ "^"w {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  rm -rf "$WORK"
}
trap cleanup EXIT
OUT=bench/results
mkdir -p "$OUT"
N=${CONTAINERS:-20}
COUNT=${COUNT:-2000}
ARCHIVE=$(bash labs/images/build.sh busybox | tail -n 1)
unset DOCKER_HOST

export BALEIA_ROOT=$WORK/root BALEIA_CONFIG=$WORK/daemon.json
echo "{\"bridge\": \"baleia8$(printf %04d $(($$ % 10000)))\", \"ip-forward\": false}" > "$BALEIA_CONFIG"
"$BIN" load -q -i "$ARCHIVE" >/dev/null
for i in $(seq "$N"); do "$BIN" run -d --network none --name "api$i" busybox sleep 3600 >/dev/null; done
SOCK=$WORK/baleia.sock
"$BIN" daemon -H "unix://$SOCK" 2>"$WORK/baleia-daemon.log" &
BALEIA_PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done

names=() cmds=()
add() { names+=(-n "$1"); cmds+=("$2"); }
echo "[" > "$OUT/api.json"
echo "{\"engine\": \"baleia daemon\", \"latency\": $(python3 bench/api_latency.py "$SOCK" /v1.41/containers/json "$COUNT")}" >> "$OUT/api.json"
add "baleia ps (daemonless)" "$BIN ps"
add "baleia -H unix://… ps (client of baleia daemon)" "$BIN -H unix://$SOCK ps"
if command -v docker >/dev/null; then
  add "docker ps → baleia daemon" "docker -H unix://$SOCK ps"
fi
if command -v dockerd >/dev/null && command -v docker >/dev/null; then
  # A private dockerd: own data root and socket, no bridge, no iptables.
  d=$WORK/docker; mkdir -p "$d"
  DSOCK=$d/docker.sock
  dockerd --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" -H "unix://$DSOCK" \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false >"$d/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  export DOCKER_HOST="unix://$DSOCK"
  for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker load -q -i "$ARCHIVE" >/dev/null
  for i in $(seq "$N"); do docker run -d --network none --name "api$i" busybox sleep 3600 >/dev/null; done
  unset DOCKER_HOST
  echo ",{\"engine\": \"dockerd\", \"latency\": $(python3 bench/api_latency.py "$DSOCK" /v1.41/containers/json "$COUNT")}" >> "$OUT/api.json"
  add "docker ps → dockerd" "docker -H unix://$DSOCK ps"
fi
echo "]" >> "$OUT/api.json"
hyperfine --shell=none --style basic --warmup 5 --runs "${RUNS:-50}" --export-markdown "$OUT/api-ps.md" \
  --export-json "$OUT/api-ps.json" "${names[@]}" "${cmds[@]}"
echo
python3 - "$OUT/api.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
print("| `GET /containers/json` ×%d | containers | p50 [ms] | p90 [ms] | p99 [ms] | max [ms] |" % rows[0]["latency"]["count"])
print("|:---|---:|---:|---:|---:|---:|")
for r in rows:
    l = r["latency"]
    print(f"| {r['engine']} | {l['containers']} | {l['p50_ms']} | {l['p90_ms']} | {l['p99_ms']} | {l['max_ms']} |")
PY
echo
cat "$OUT/api-ps.md"
