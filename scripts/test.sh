#!/usr/bin/env bash
# Quick start 2: set up, then run the whole test suite (kernel tests included when root;
# with CUSTODY_REQUIRE_BPF=1 a missing BPF capability fails instead of skipping).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npx vitest run "$@"
