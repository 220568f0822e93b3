#!/usr/bin/env bash
# Sets up custody on a fresh clone: Debian packages for the eBPF recorder (when root),
# npm packages (pinned by package-lock.json), the TypeScript build, and the recorder
# (BPF object + native addon). The recorder is optional unless CUSTODY_REQUIRE_BPF=1:
# without it every other command works and `custody record` says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

# Debian packages: the recorder's toolchain, and tmux for the terminal end-to-end tests.
pkgs=(clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev make g++ pkg-config tmux)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  else
    say "not root: cannot install ${missing[*]} (needed by custody record and the terminal tests); continuing"
  fi
fi

# npm packages. `npm install` honours the lockfile; (`npm ci` rejects this npm's lockfile,
# which omits the other platforms' optional DuckDB and rollup binaries.)
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm install --no-audit --no-fund --loglevel=error
fi

say "building TypeScript"
npm run --silent build

if bash scripts/build-native.sh >/tmp/custody-build-native.log 2>&1; then
  say "recorder built (bpf/build/custody.bpf.o, native/build/Release/custody_bpf.node)"
else
  if [ "${CUSTODY_REQUIRE_BPF:-}" = 1 ]; then
    cat /tmp/custody-build-native.log >&2
    say "the eBPF recorder did not build, and CUSTODY_REQUIRE_BPF=1 requires it"
    exit 1
  fi
  say "the eBPF recorder did not build (custody record will say why; see /tmp/custody-build-native.log); everything else works"
fi
