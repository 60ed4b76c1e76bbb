#!/usr/bin/env bash
# Build the course: both editions' sources from the labs and their recordings (`baleia-lab book`),
# then mdbook. Needs mdbook 0.5 (`cargo install mdbook --version ^0.5 --locked`).
#
#   scripts/book.sh [OUT]     default OUT: book; open OUT/html/index.html
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-book}
PATH=$PATH:$HOME/.cargo/bin
command -v mdbook >/dev/null || { echo "book: mdbook is missing: cargo install mdbook --version '^0.5' --locked" >&2; exit 1; }
cargo build --quiet -p baleia-lab
target/debug/baleia-lab --labs labs book --book book --out "$out"
mdbook build "$out/pt"
mdbook build "$out/en"
echo "$out/html/index.html"
