#!/usr/bin/env bash
# Benchmark container start: `baleia run --rm --network none busybox true` against `crun run` of an
# equivalent OCI bundle (the same busybox rootfs, new pid/mount/uts/ipc/net namespaces) and against
# `docker run --rm --network none busybox true` on a private dockerd when Docker is installed.
#
#   bash bench/start.sh          (as root; Markdown table on stdout, raw numbers in bench/results/)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null; }; }
need hyperfine hyperfine
need crun crun
need jq jq

BIN=${BALEIA:-$PWD/target/release/baleia}
[ -x "$BIN" ] || cargo build --release -p baleia-engine
WORK=$(mktemp -d /tmp/baleia-bench-start.XXXXXX)
DOCKERD_PID=
cleanup() {
  [ -z "$DOCKERD_PID" ] || { kill "$DOCKERD_PID" 2>/dev/null; wait "$DOCKERD_PID" 2>/dev/null || true; }
  BALEIA_ROOT=$WORK/root "$BIN" ps -aq 2>/dev/null | xargs -r env BALEIA_ROOT="$WORK/root" "$BIN" rm -f >/dev/null 2>&1 || true
  awk -v w="$WORK" '$2 ~ "^"w {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  rm -rf "$WORK"
}
trap cleanup EXIT
OUT=bench/results
mkdir -p "$OUT"
ARCHIVE=$(bash labs/images/build.sh busybox | tail -n 1)

export BALEIA_ROOT=$WORK/root
"$BIN" load -q -i "$ARCHIVE"

# The crun bundle: busybox's rootfs, crun's default spec with `true`, no terminal, a new net namespace.
mkdir -p "$WORK/bundle/rootfs"
tar -xf "$ARCHIVE" -C "$WORK" blobs manifest.json
for l in $(jq -r '.[0].Layers[]' "$WORK/manifest.json"); do tar -xf "$WORK/$l" -C "$WORK/bundle/rootfs"; done
(cd "$WORK/bundle" && crun spec && jq '.process.terminal=false | .process.args=["true"]' config.json > c && mv c config.json)

names=() cmds=()
add() { names+=(-n "$1"); cmds+=("$2"); }
add "baleia run --rm --network none busybox true" "$BIN run --rm --network none busybox true"
add "crun run (same rootfs, same namespaces)" "crun run --bundle $WORK/bundle bench-\$RANDOM"
if command -v dockerd >/dev/null && ! docker info >/dev/null 2>&1; then
  d=$WORK/docker; mkdir -p "$d"
  dockerd --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" -H "unix://$d/docker.sock" \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false >"$d/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  export DOCKER_HOST="unix://$d/docker.sock"
  for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
fi
if docker info >/dev/null 2>&1; then
  docker load -q -i "$ARCHIVE" >/dev/null
  add "docker run --rm --network none busybox true" "docker run --rm --network none busybox true"
  DOCKER_VERSION=$(docker version -f '{{.Server.Version}}')
fi
# crun refuses a hybrid host whose cgroup v2 has a controller (here hugetlb); every tool is measured in
# one private mount namespace where that v2 mount is hidden (v1 controllers, which all of them use, stay).
unshare -m --propagation private bash -c 'umount /sys/fs/cgroup/unified 2>/dev/null || true; exec "$@"' _ \
  hyperfine --shell=bash --style basic --warmup 3 --runs "${RUNS:-30}" --export-markdown "$OUT/start.md" --export-json "$OUT/start.json" "${names[@]}" "${cmds[@]}"
echo
echo "machine: $(nproc) CPUs, kernel $(uname -r); baleia $("$BIN" -v | cut -d' ' -f3-); crun $(crun --version | head -1); docker ${DOCKER_VERSION:-not measured}"
cat "$OUT/start.md"
