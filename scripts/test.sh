#!/usr/bin/env bash
# The whole test suite, as root on a Debian machine: install what is missing, build, test.
# This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test: run as root (the engine mounts, unpacks files of every owner)" >&2; exit 1; }

source scripts/deps.sh
cargo build --workspace --all-targets
cargo test --workspace -- --test-threads=2
