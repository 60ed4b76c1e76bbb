#!/usr/bin/env bash
# Refresh the book's recordings (book/recordings/): run each lab with `baleia-lab record` on the
# built-in engine and keep its transcript, terminal casts and captures. As root.
#
#   scripts/record-book.sh              every lab
#   scripts/record-book.sh 09-neotech   only these
#   scripts/record-book.sh --stale      only the labs whose recording no longer matches the lab file
#
# It works on a root of its own (BALEIA_ROOT, default /var/lib/baleia-book, removed afterwards) with
# the default bridge name a learner sees, baleia0, and without turning on the host's ip_forward.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "record-book: run as root" >&2; exit 1; }
cargo build --workspace --quiet
lab=$PWD/target/debug/baleia-lab
export BALEIA_BIN=$PWD/target/debug/baleia

ids=("$@")
if [ "${1:-}" = --stale ]; then
    mapfile -t ids < <("$lab" --labs labs book --check | awk -F': ' '/^[0-9]+-[^ :]+: / {print $1}' || true)
    [ ${#ids[@]} -gt 0 ] || { echo "record-book: every recording matches its lab"; exit 0; }
elif [ ${#ids[@]} -eq 0 ]; then
    ids=()
    for f in labs/[0-9]*.yaml; do ids+=("$(basename "$f" .yaml)"); done
fi

if ip link show baleia0 >/dev/null 2>&1 && [ -z "${BALEIA_CONFIG:-}" ]; then
    echo "record-book: a bridge baleia0 exists (your own baleia's?): stop its containers and run" \
         "'baleia system teardown', or set BALEIA_CONFIG to a daemon.json with another bridge" >&2
    exit 1
fi
work=$(mktemp -d /tmp/baleia-book.XXXXXX)
export BALEIA_ROOT=${BALEIA_ROOT:-/var/lib/baleia-book}
export BALEIA_LAB_HOME=${BALEIA_LAB_HOME:-$work/home} BALEIA_LAB_RUN=${BALEIA_LAB_RUN:-$work/run}
if [ -z "${BALEIA_CONFIG:-}" ]; then
    echo '{"bridge": "baleia0", "ip-forward": false}' > "$work/daemon.json"
    export BALEIA_CONFIG=$work/daemon.json
fi
cleanup() {
    "$BALEIA_BIN" system teardown >/dev/null 2>&1 || true
    awk -v w="$BALEIA_ROOT" '$2 ~ "^"w {print $2}' /proc/mounts | sort -r | xargs -r umount -l
    [ -n "${KEEP_ROOT:-}" ] || rm -rf "$BALEIA_ROOT"
    rm -rf "$work"
}
trap cleanup EXIT

status=0
for id in "${ids[@]}"; do
    echo "==> $id" >&2
    LANG=en_US.UTF-8 NO_COLOR=1 "$lab" --labs labs record "$id" --out book/recordings >/dev/null || {
        echo "record-book: $id failed; its old recording is gone, record it again once it passes" >&2
        status=1
    }
done
"$lab" --labs labs book --check
exit "$status"
