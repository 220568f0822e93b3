#!/usr/bin/env bash
# Quick start 1: set up, then show custody's main job on the bundled demo. Writes the demo's
# raw logs in the vendors' shapes (fixtures/demo/make-logs.mjs), ingests them into
# demo/bundle, verifies it, and opens the timeline (interactive on a terminal; a table otherwise).
#   ./scripts/demo.sh [--clean]    --clean: the same story without the compromise
set -euo pipefail
cd "$(dirname "$0")/.."
clean=()
for a in "$@"; do
  case "$a" in
    --clean) clean=(--clean) ;;
    *) echo "usage: scripts/demo.sh [--clean]" >&2; exit 2 ;;
  esac
done
bash scripts/setup.sh

rm -rf demo
node fixtures/demo/make-logs.mjs demo/logs "${clean[@]}"
./bin/run.js ingest demo/bundle demo/logs
# Kernel evidence of the demo pod: recorded live when the recorder can run here (root, BTF, built);
# otherwise the recording kept in fixtures/demo/kernel (made by the same script) is opened next to it.
bundles=(demo/bundle)
if [ "$(id -u)" = 0 ] && [ -r /sys/kernel/btf/vmlinux ] && [ -f native/build/Release/custody_bpf.node ] && bash fixtures/demo/record-kernel.sh demo/bundle; then
  :
else
  echo "demo: not recording live (needs root, kernel BTF and the built recorder); opening the kept recording fixtures/demo/kernel" >&2
  bundles+=(fixtures/demo/kernel)
fi
for b in "${bundles[@]}"; do ./bin/run.js verify "$b"; done
if [ -t 0 ] && [ -t 1 ]; then
  echo
  echo "Opening the timeline: ↑/↓ to move, Enter for a row's links and raw record, / to filter, ? for help, q to quit."
  echo "Try the row 's3:GetObject s3://prod-secrets/db.env' from 203.0.113.66, and the kernel rows at the end (G)."
  sleep 1
  exec ./bin/run.js reconstruct "${bundles[@]}"
fi
exec ./bin/run.js reconstruct "${bundles[@]}" --format table
