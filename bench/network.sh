#!/usr/bin/env bash
# Benchmark container start on the default bridge: `baleia run --rm busybox true` (a veth pair on the
# bridge, an address, a route, /etc/hosts) against the same with `--network none` (the network's own
# share), and against `docker run --rm busybox true` on a private dockerd's bridge when Docker is
# installed. Nothing leaves the host: no container sends a packet, and every bridge is removed.
#
#   bash bench/network.sh          (as root; Markdown table on stdout, raw numbers in bench/results/)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null; }; }
need hyperfine hyperfine

BIN=${BALEIA:-$PWD/target/release/baleia}
[ -x "$BIN" ] || cargo build --release -p baleia-engine
WORK=$(mktemp -d /tmp/baleia-bench-net.XXXXXX)
DOCKERD_PID=
DOCKER_BRIDGE=bldock$$
cleanup() {
  [ -z "$DOCKERD_PID" ] || { kill "$DOCKERD_PID" 2>/dev/null; wait "$DOCKERD_PID" 2>/dev/null || true; }
  ip link del "$DOCKER_BRIDGE" 2>/dev/null || true
  "$BIN" ps -aq 2>/dev/null | xargs -r "$BIN" rm -f >/dev/null 2>&1 || true
  "$BIN" system teardown >/dev/null 2>&1 || true
  awk -v w="$WORK" '$2 ~ "^"w {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  rm -rf "$WORK"
}
trap cleanup EXIT
OUT=bench/results
mkdir -p "$OUT"
ARCHIVE=$(bash labs/images/build.sh busybox | tail -n 1)

export BALEIA_ROOT=$WORK/root BALEIA_CONFIG=$WORK/daemon.json
echo "{\"bridge\": \"baleia9$(printf %04d $(($$ % 10000)))\", \"ip-forward\": false}" > "$BALEIA_CONFIG"
"$BIN" load -q -i "$ARCHIVE"
"$BIN" run --rm busybox true   # makes the bridge and its rules once, as Docker's daemon does at start

names=() cmds=()
add() { names+=(-n "$1"); cmds+=("$2"); }
add "baleia run --rm busybox true (default bridge)" "$BIN run --rm busybox true"
add "baleia run --rm --network none busybox true" "$BIN run --rm --network none busybox true"
if command -v dockerd >/dev/null && ! docker info >/dev/null 2>&1; then
  # A private dockerd on its own bridge (no docker0), without touching iptables or ip_forward.
  subnet=10.217.$(($$ % 250)).1/24
  ip link add "$DOCKER_BRIDGE" type bridge && ip addr add "$subnet" dev "$DOCKER_BRIDGE" && ip link set "$DOCKER_BRIDGE" up
  d=$WORK/docker; mkdir -p "$d"
  dockerd --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" -H "unix://$d/docker.sock" \
    --bridge="$DOCKER_BRIDGE" --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false >"$d/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  export DOCKER_HOST="unix://$d/docker.sock"
  for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
fi
if docker info >/dev/null 2>&1; then
  docker load -q -i "$ARCHIVE" >/dev/null
  add "docker run --rm busybox true (its bridge)" "docker run --rm busybox true"
fi
hyperfine --shell=bash --style basic --warmup 3 --runs "${RUNS:-30}" --export-markdown "$OUT/network.md" \
  --export-json "$OUT/network.json" "${names[@]}" "${cmds[@]}"
echo
cat "$OUT/network.md"
