#!/usr/bin/env bash
# Fresh Debian machine, as root: install what is missing, build baleia and baleia-lab, build and load
# the lab images, run a container and a lab. Run from the repository: `bash scripts/setup.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "setup: run as root (sudo bash scripts/setup.sh)" >&2; exit 1; }

source scripts/deps.sh
cargo build --release --workspace
install -m 0755 target/release/baleia /usr/local/bin/baleia
install -m 0755 target/release/baleia-lab /usr/local/bin/baleia-lab
# `run --init`'s PID 1, static (containers may have no libc); after the workspace build, which
# writes a dynamic one to the same path.
cargo rustc --release -p baleia-init -- -C target-feature=+crt-static -C strip=symbols
file target/release/baleia-init | grep -Eq 'static(-pie)? linked' || { echo "setup: baleia-init is not static" >&2; exit 1; }
install -D -m 0755 target/release/baleia-init /usr/local/lib/baleia/baleia-init

BALEIA=/usr/local/bin/baleia bash labs/images/build.sh --load
echo
echo "== baleia images"
baleia images
echo
echo "== baleia history nginx (the first two layers are debian's, shared)"
baleia history nginx
echo
echo "== baleia run --rm hello-world (a container: new namespaces, an overlay root, a cgroup)"
baleia run --rm hello-world
echo
echo "== baleia-lab run 02-first-containers (a lab: real terminals, the kernel behind each step, checks)"
baleia-lab run 02-first-containers
