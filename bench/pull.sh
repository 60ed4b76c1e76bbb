#!/usr/bin/env bash
# Benchmark `baleia pull` of the debian lab image from a registry on 127.0.0.1 against `docker pull` of
# the same image from the same registry on a private dockerd. Nothing leaves the host.
#
#   bash bench/pull.sh          (as root; Markdown table on stdout, raw numbers in bench/results/)
#
# The registry is Debian's docker-registry (distribution v2, filesystem storage, no auth) on a free
# loopback port, seeded by skopeo from the lab archive (so neither engine's push is involved). Each
# timed run pulls cold: baleia into a new, empty root; Docker after `docker rmi` of the image (its
# layers go with it). Both download the same two gzip layers, verify them and unpack them into overlay2.
# Everything runs on a fresh journaled ext4 (a loop device), as bench/archive.sh explains.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null; }; }
need hyperfine hyperfine
need skopeo skopeo
need curl curl
need jq jq
need docker-registry docker-registry
# docker.io for the comparison; its service is not started by the package here, and we start our own.
command -v dockerd >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null || true

BIN=${BALEIA:-$PWD/target/release/baleia}
[ -x "$BIN" ] || cargo build --release -p baleia-engine
RUNS=${RUNS:-10}
OUT=bench/results
mkdir -p "$OUT"

WORK=$(mktemp -d /tmp/baleia-bench-pull.XXXXXX)
REGISTRY_PID= DOCKERD_PID= MOUNTED=
cleanup() {
  set +e
  if [ -n "$DOCKERD_PID" ]; then kill "$DOCKERD_PID" 2>/dev/null; wait "$DOCKERD_PID" 2>/dev/null; fi
  if [ -n "$REGISTRY_PID" ]; then kill "$REGISTRY_PID" 2>/dev/null; wait "$REGISTRY_PID" 2>/dev/null; fi
  # Whatever is still mounted below the work folder (dockerd's overlays, its netns files), then it.
  awk -v w="$WORK/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  [ -z "$MOUNTED" ] || umount "$WORK"
  rm -rf "$WORK" "$WORK.img"
}
trap cleanup EXIT
truncate -s 4G "$WORK.img"
mkfs.ext4 -q -F "$WORK.img"
mount -o loop "$WORK.img" "$WORK"
MOUNTED=1

# --- the registry, on a loopback port nobody listens on
for _ in $(seq 50); do
  PORT=$((20000 + RANDOM % 40000))
  [ -z "$(ss -Hltn "sport = :$PORT")" ] && break
done
ADDR=127.0.0.1:$PORT
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry
  delete:
    enabled: true
http:
  addr: $ADDR
  secret: baleia-bench-only
EOF
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
for _ in $(seq 100); do curl -fsS --noproxy '*' -o /dev/null "http://$ADDR/v2/" 2>/dev/null && break; sleep 0.05; done
curl -fsS --noproxy '*' -o /dev/null "http://$ADDR/v2/" || { echo "bench: the registry did not start:" >&2; cat "$WORK/registry.log" >&2; exit 1; }

ARCHIVE=$(bash labs/images/build.sh debian | tail -n 1)
IMAGE=$ADDR/debian:latest
NO_PROXY=127.0.0.1 no_proxy=127.0.0.1 skopeo copy -q --dest-tls-verify=false "docker-archive:$ARCHIVE" "docker://$IMAGE"
# The image ID both engines must end up with: the config blob's digest.
WANT=sha256:$(tar -xOf "$ARCHIVE" manifest.json | jq -r '.[0].Config' | sed 's|.*/||; s|\.json$||')
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

names=() preps=() cmds=()
add() { names+=(-n "$1"); preps+=(--prepare "$2"); cmds+=("$3"); }

# --- baleia: a new root per run (the daemon.json keeps it off the host's forwarding setting)
echo '{"ip-forward": false}' >"$WORK/daemon.json"
export BALEIA_CONFIG=$WORK/daemon.json
BALEIA_ROOT=$WORK/check-root "$BIN" pull -q "$IMAGE" >/dev/null
GOT=$(BALEIA_ROOT=$WORK/check-root "$BIN" inspect -f '{{.Id}}' "$IMAGE")
[ "$GOT" = "$WANT" ] || { echo "bench: baleia pulled $GOT, not $WANT" >&2; exit 1; }
rm -rf "$WORK/check-root"
add "baleia pull" "rm -rf $WORK/baleia-root; sync" "BALEIA_ROOT=$WORK/baleia-root $BIN pull $IMAGE"

# --- Docker: always a private dockerd (own data root, exec root and socket on the same ext4, no
# bridge, no iptables), so nothing on the host changes. 127.0.0.0/8 is an insecure registry by default.
if command -v dockerd >/dev/null; then
  d=$WORK/docker
  mkdir -p "$d"
  dockerd --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" -H "unix://$d/docker.sock" \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --storage-driver=overlay2 >"$d/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  export DOCKER_HOST="unix://$d/docker.sock" DOCKER_CONFIG=$d/client
  for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  if docker info >/dev/null 2>&1; then
    DOCKER_VERSION=$(docker version -f '{{.Server.Version}}')
    docker pull -q "$IMAGE" >/dev/null
    GOT=$(docker inspect -f '{{.Id}}' "$IMAGE")
    [ "$GOT" = "$WANT" ] || { echo "bench: docker pulled $GOT, not $WANT" >&2; exit 1; }
    add "docker pull" "docker rmi -f $IMAGE >/dev/null 2>&1 || true; sync" "docker pull $IMAGE"
  else
    echo "bench: the private dockerd did not start (see below); docker pull not measured" >&2
    tail -n 20 "$d/dockerd.log" >&2
  fi
else
  echo "bench: no dockerd here; docker pull not measured" >&2
fi

hyperfine --shell=bash --style basic --warmup 1 --runs "$RUNS" --export-markdown "$OUT/pull.md" \
  --export-json "$OUT/pull.json" "${names[@]}" "${preps[@]}" "${cmds[@]}"
echo
echo "Image: debian lab image ($(du -h "$ARCHIVE" | cut -f1) archive, two layers) from docker-registry $(docker-registry --version | awk '{print $3}') on $ADDR; machine: $(nproc) CPUs, kernel $(uname -r); baleia $("$BIN" -v | cut -d' ' -f3-); docker ${DOCKER_VERSION:-not measured}"
cat "$OUT/pull.md"
