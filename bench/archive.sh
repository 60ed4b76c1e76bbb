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
#   tar -c+sha256 : tar -c the extracted archive folder, piped through sha256sum.
#   docker save   : the same image out of dockerd.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }

BIN=${BALEIA:-$PWD/target/release/baleia}
[ -x "$BIN" ] || cargo build --release -p baleia-engine
WORK=$(mktemp -d /tmp/baleia-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
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
add "tar -c + sha256sum" "sync" "tar -cf - -C $WORK/x blobs manifest.json index.json oci-layout | sha256sum"
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  docker load -q -i "$ARCHIVE" >/dev/null
  add "docker load" "docker rmi -f debian:latest >/dev/null 2>&1 || true" "docker load -q -i $ARCHIVE"
  add "docker save" "rm -f $WORK/docker-saved.tar; sync" "docker save -o $WORK/docker-saved.tar debian:latest"
else
  echo "bench: no Docker engine answers here; docker load/save not measured" >&2
fi
hyperfine --shell=bash --style basic --runs "$RUNS" --warmup 1 --export-markdown "$OUT/archive.md" --export-json "$OUT/archive.json" "${names[@]}" "${preps[@]}" "${cmds[@]}"
rm -rf "$WORK/load-root"
echo
echo "Archive: $ARCHIVE ($(du -h "$ARCHIVE" | cut -f1)); machine: $(nproc) CPUs, $(uname -r)"
cat "$OUT/archive.md"
