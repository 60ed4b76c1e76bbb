#!/usr/bin/env bash
# The whole test suite, as root on a Debian machine: install what is missing, build, test.
# This is what CI runs (.ci/run). It ends with one line totalling every test binary's results.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test: run as root (the engine mounts, unpacks files of every owner)" >&2; exit 1; }

BALEIA_BOOK_DEPS=1 source scripts/deps.sh
cargo build --workspace --all-targets
# `run --init` puts baleia-init in containers that may have no libc: it must be static. The tests
# (tests/src/lib.rs) point BALEIA_INIT at this one, not at the dynamic target/debug/baleia-init.
cargo rustc --release -p baleia-init -- -C target-feature=+crt-static -C strip=symbols
file target/release/baleia-init | grep -Eq 'static(-pie)? linked' || { echo "test: baleia-init is not static" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --no-fail-fast -- --test-threads=2 2>&1 | tee "$log" || status=$?
# Every lab of labs/, headless, on the built-in engine (a private root, its own bridge).
labroot=$(mktemp -d /tmp/baleia-labs.XXXXXX)
echo "{\"bridge\": \"baleia6$(printf %04d $(($$ % 10000)))\", \"dns\": [\"127.0.0.1\"], \"ip-forward\": false}" > "$labroot/daemon.json"
BALEIA_ROOT=$labroot/root BALEIA_CONFIG=$labroot/daemon.json BALEIA_LAB_HOME=$labroot/home BALEIA_LAB_RUN=$labroot/run \
  BALEIA_BIN=$PWD/target/debug/baleia target/debug/baleia-lab --labs labs check --all 2>&1 | tee -a "$log" || status=$?
BALEIA_ROOT=$labroot/root BALEIA_CONFIG=$labroot/daemon.json target/debug/baleia system teardown || true
awk -v w="$labroot" '$2 ~ "^"w {print $2}' /proc/mounts | sort -r | xargs -r umount -l
rm -rf "$labroot"
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
