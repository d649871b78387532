#!/usr/bin/env bash
# Times `make demo` as a new user meets it: a fresh clone (no .venv, no demo_out), then
# `make demo`, which installs the venv and runs everything. Prints the wall time with the date,
# the commit and the CPU count; the README quotes this output.
#
#   bash tools/time_demo.sh [REPO] [WORKDIR]
#
# REPO: what to clone (default: this checkout; its committed HEAD is what gets timed).
# WORKDIR: where to clone (default: a new temporary directory, kept afterwards so that its
# demo_out/ and demo.log can be looked at). Extra make arguments via MAKE_ARGS.
set -euo pipefail
REPO=${1:-$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)}
WORK=${2:-$(mktemp -d -t sa3dhp_demo_XXXX)}
if [ -e "$WORK/clone" ]; then
  echo "error: $WORK/clone exists; give an empty WORKDIR" >&2
  exit 2
fi
git clone -q "$REPO" "$WORK/clone"
cd "$WORK/clone"
COMMIT=$(git rev-parse --short HEAD)
START=$(date +%s)
START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
status=0
make demo ${MAKE_ARGS:-} 2>&1 | tee "$WORK/demo.log" || status=$?
SECONDS_TAKEN=$(( $(date +%s) - START ))
echo
echo "time_demo: make demo on a fresh clone of $COMMIT, started $START_DATE, $(nproc) CPU cores:"
printf 'time_demo: wall %d min %02d s (exit status %d); log %s; output %s\n' \
  $((SECONDS_TAKEN / 60)) $((SECONDS_TAKEN % 60)) "$status" "$WORK/demo.log" "$WORK/clone/demo_out"
exit "$status"
