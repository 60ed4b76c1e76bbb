#!/usr/bin/env bash
# The whole test suite, as root on a Debian machine: install what is missing, build, test.
# This is what CI runs (.ci/run). It ends with one line totalling every test binary's results.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test: run as root (the engine mounts, unpacks files of every owner)" >&2; exit 1; }

source scripts/deps.sh
cargo build --workspace --all-targets
# `run --init` puts baleia-init in containers that may have no libc: it must be static. The tests
# (tests/src/lib.rs) point BALEIA_INIT at this one, not at the dynamic target/debug/baleia-init.
cargo rustc --release -p baleia-init -- -C target-feature=+crt-static -C strip=symbols
file target/release/baleia-init | grep -Eq 'static(-pie)? linked' || { echo "test: baleia-init is not static" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --no-fail-fast -- --test-threads=2 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
