#!/usr/bin/env bash
# Benchmark the lab runner's own cost per step: a lab of N steps that each type `/bin/true` in the
# host shell, recorded; each step's time (typing, the shell running the command, the prompt marker
# coming back) minus what the same command costs in a shell loop. Also `check --all` of the
# runner's test labs. Nothing leaves the host.
#
#   bash bench/runner.sh        (as root; STEPS=200; Markdown on stdout, raw numbers in bench/results/)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null; }; }
need python3 python3
[ -x target/release/baleia-lab ] && [ -x target/release/baleia ] || cargo build --release -p baleia-lab -p baleia-engine
STEPS=${STEPS:-200}
WORK=$(mktemp -d /tmp/baleia-bench-runner.XXXXXX)
export BALEIA_BIN=$PWD/target/release/baleia BALEIA_ROOT=$WORK/root BALEIA_CONFIG=$WORK/daemon.json
export BALEIA_LAB_HOME=$WORK/home BALEIA_LAB_RUN=$WORK/run BALEIA_LAB_BUILD=$PWD/labs/images/build.sh NO_COLOR=1
echo "{\"bridge\": \"baleia7$(printf %04d $(($$ % 10000)))\", \"ip-forward\": false, \"dns\": [\"127.0.0.1\"]}" > "$BALEIA_CONFIG"
cleanup() {
  "$BALEIA_BIN" ps -aq 2>/dev/null | xargs -r "$BALEIA_BIN" rm -f >/dev/null 2>&1 || true
  "$BALEIA_BIN" system teardown >/dev/null 2>&1 || true
  awk -v w="$WORK" '$2 ~ "^"w {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/labs" bench/results
{
  echo "id: steps"
  echo "title: {pt: Passos, en: Steps}"
  echo "source: [bench]"
  echo "steps:"
  for _ in $(seq "$STEPS"); do echo "  - run: /bin/true"; done
} > "$WORK/labs/steps.yaml"
target/release/baleia-lab --labs "$WORK/labs" record steps --out "$WORK/rec" 2>&1 | tail -1
# What the command itself costs: fork and exec of /bin/true from bash.
own=$(bash -c 'start=$(date +%s%N); for i in $(seq '"$STEPS"'); do /bin/true; done; end=$(date +%s%N); echo $(( (end - start) / '"$STEPS"' ))')
start=$(date +%s%N)
target/release/baleia-lab --labs runner/tests/labs check --all >/dev/null
all_ms=$(( ($(date +%s%N) - start) / 1000000 ))
python3 - "$WORK/rec/steps.json" "$own" "$all_ms" <<'PY' | tee bench/results/runner.md
import json, statistics, sys
steps = [s["seconds"] * 1000 for s in json.load(open(sys.argv[1]))["steps"]]
own = int(sys.argv[2]) / 1e6
over = sorted(t - own for t in steps)
pct = lambda p: over[min(len(over) - 1, int(len(over) * p / 100))]
print(f"| steps | command alone [ms] | step median [ms] | overhead median [ms] | p90 [ms] | max [ms] |")
print(f"|---:|---:|---:|---:|---:|---:|")
print(f"| {len(steps)} | {own:.2f} | {statistics.median(steps):.2f} | {statistics.median(over):.2f} | {pct(90):.2f} | {over[-1]:.2f} |")
print()
print(f"`baleia-lab check --all` of the runner's test labs: {int(sys.argv[3])} ms")
json.dump({"steps_ms": steps, "own_ms": own, "check_all_ms": int(sys.argv[3])}, open("bench/results/runner.json", "w"))
PY
