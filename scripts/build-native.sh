#!/usr/bin/env bash
# Builds the kernel recorder: bpf/build/custody.bpf.o (CO-RE eBPF, from this
# kernel's BTF) and native/build/Release/custody_bpf.node (node-gyp addon).
# Says exactly what is missing and exits non-zero when it cannot build.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
have clang || missing+=(clang)
have bpftool || missing+=(bpftool)
have make || missing+=(make)
have g++ || missing+=(g++)
[ -f /usr/include/bpf/libbpf.h ] || missing+=(libbpf-dev)
[ -f /usr/include/gelf.h ] || missing+=(libelf-dev)
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "build:native: missing ${missing[*]}." >&2
  echo "  install: apt-get install clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev make g++" >&2
  exit 1
fi
if [ ! -r /sys/kernel/btf/vmlinux ]; then
  echo "build:native: /sys/kernel/btf/vmlinux is not readable: the kernel needs CONFIG_DEBUG_INFO_BTF=y (and reading it may need root)." >&2
  exit 1
fi
if [ ! -x node_modules/.bin/node-gyp ] || [ ! -d node_modules/node-addon-api ]; then
  echo "build:native: node-gyp or node-addon-api not installed: run npm install first." >&2
  exit 1
fi

PATH="$PATH:/usr/sbin:/sbin" make -C bpf

# Build against the headers of the node that runs us when they are installed
# (no download); otherwise node-gyp uses its own cache or fetches them.
gyp_args=()
node_prefix="$(dirname "$(dirname "$(command -v node)")")"
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$node_prefix/include/node/node_api.h" ]; then
  gyp_args+=(--nodedir="$node_prefix")
fi
node_modules/.bin/node-gyp rebuild -C native "${gyp_args[@]}"
