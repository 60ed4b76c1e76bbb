#!/usr/bin/env bash
# Benchmark `baleia load` and `baleia save` of the debian lab image (~150 MB, two layers) against the
# same work done with standard tools, and against Docker where a Docker engine is running.
#
#   bash bench/archive.sh            (as root; prints a Markdown table, raw numbers in bench/results/)
#
# What is compared (the same bytes each time, page cache warm):
#   baleia load   : read the archive once; hash every blob; unpack every layer into overlay2/<id>/diff.
#   tar+sha256sum : tar -x the archive; sha256sum every blob; tar -x every layer into a folder.
#   docker load   : the same archive into dockerd (only when `docker info` answers).
#   baleia save   : rebuild every layer tar from its unpacked folder (tar-split), hash it, write the archive.
#   tar -c+sha256 : tar -c the extracted archive folder into a file, and sha256sum of the stream.
#   docker save   : the same image out of dockerd.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
# docker.io for the comparison; its service is not started by the package here, and we start our own.
command -v dockerd >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null || true

BIN=${BALEIA:-$PWD/target/release/baleia}
[ -x "$BIN" ] || cargo build --release -p baleia-engine
# Everything runs on a fresh journaled ext4 (a loop device), as on a typical Docker host. Some
# sandboxes' root filesystems are ext4 without a journal, where creating files soon after deleting
# others is several times slower for every tool (ext4 skips recently deleted inodes); that would
# measure the sandbox, not the engines.
WORK=$(mktemp -d /tmp/baleia-bench.XXXXXX)
truncate -s 4G "$WORK.img"
mkfs.ext4 -q -F "$WORK.img"
mount -o loop "$WORK.img" "$WORK"
trap 'umount "$WORK"; rm -rf "$WORK" "$WORK.img"' EXIT
cp "$(bash labs/images/build.sh debian | tail -n 1)" "$WORK/debian.tar"
ARCHIVE=$WORK/debian.tar
OUT=bench/results
mkdir -p "$OUT"
RUNS=${RUNS:-10}

export BALEIA_ROOT=$WORK/root
"$BIN" load -q -i "$ARCHIVE"

baseline_load() {
  mkdir -p "$WORK/x/rootfs"
  tar -xf "$ARCHIVE" -C "$WORK/x"
  sha256sum "$WORK"/x/blobs/sha256/* >/dev/null
  for l in $(jq -r '.[0].Layers[]' "$WORK/x/manifest.json"); do tar -xf "$WORK/x/$l" -C "$WORK/x/rootfs"; done
}
export -f baseline_load
export ARCHIVE WORK BIN

names=() preps=() cmds=()
add() { names+=(-n "$1"); preps+=(--prepare "$2"); cmds+=("$3"); }
add "baleia load" "rm -rf $WORK/load-root; sync" "BALEIA_ROOT=$WORK/load-root $BIN load -q -i $ARCHIVE"
add "tar -x + sha256sum" "rm -rf $WORK/x; sync" "baseline_load"
add "baleia save" "rm -f $WORK/saved.tar; sync" "$BIN save -o $WORK/saved.tar debian:latest"
baseline_load
add "tar -c + sha256sum" "rm -f $WORK/tar-saved.tar; sync" "tar -cf - -C $WORK/x blobs manifest.json index.json oci-layout | tee $WORK/tar-saved.tar | sha256sum"
# Docker: the engine the user runs, or else a private dockerd of our own (own data root and socket,
# no bridge, no iptables: nothing on the host changes), stopped at the end.
start_private_dockerd() {
  local d=$WORK/docker
  mkdir -p "$d"
  dockerd --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" -H "unix://$d/docker.sock" \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --storage-driver=overlay2 >"$d/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  export DOCKER_HOST="unix://$d/docker.sock"
  for _ in $(seq 100); do docker info >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "bench: private dockerd did not start (see $d/dockerd.log)" >&2
  return 1
}
stop_private_dockerd() {
  [ -n "${DOCKERD_PID:-}" ] || return 0
  kill "$DOCKERD_PID" 2>/dev/null && wait "$DOCKERD_PID" 2>/dev/null
  grep -q "$WORK/docker" /proc/mounts && awk -v w="$WORK/docker" '$2 ~ "^"w {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  DOCKERD_PID=
}
trap 'stop_private_dockerd; umount "$WORK"; rm -rf "$WORK" "$WORK.img"' EXIT
if ! (command -v docker >/dev/null && docker info >/dev/null 2>&1) && command -v dockerd >/dev/null; then
  start_private_dockerd || true
fi
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  DOCKER_VERSION=$(docker version -f '{{.Server.Version}}')
  docker load -q -i "$ARCHIVE" >/dev/null
  add "docker load" "docker rmi -f \$(docker images -q) >/dev/null 2>&1; sync" "docker load -q -i $ARCHIVE"
  add "docker save" "rm -f $WORK/docker-saved.tar; sync" "docker save -o $WORK/docker-saved.tar debian:latest"
else
  echo "bench: no Docker engine answers here; docker load/save not measured" >&2
fi
hyperfine --shell=bash --style basic --runs "$RUNS" --warmup 1 --export-markdown "$OUT/archive.md" --export-json "$OUT/archive.json" "${names[@]}" "${preps[@]}" "${cmds[@]}"
rm -rf "$WORK/load-root"
echo
echo "Archive: debian lab image ($(du -h "$ARCHIVE" | cut -f1)); machine: $(nproc) CPUs, kernel $(uname -r); baleia $("$BIN" -v | cut -d' ' -f3-); docker ${DOCKER_VERSION:-not measured}"
cat "$OUT/archive.md"
