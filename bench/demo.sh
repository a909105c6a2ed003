#!/usr/bin/env bash
# The README's first command: on a Debian 12 machine, as root, installs what
# is missing (build tools, clang and libbpf for the XDP program, iproute2,
# Rust), builds xlns in release mode, and runs `lns-bench demo` (arguments
# are passed on: bench/demo.sh --sessions 5000 --rate 50k).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "bench/demo.sh: run it as root (sudo bash bench/demo.sh): it installs packages and builds a network lab" >&2
  exit 1
fi
bash scripts/install-deps build-essential pkg-config clang llvm libbpf-dev iproute2 curl ca-certificates
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -q -p lns-bench -p lns-controlplane -p lns-dataplane
exec target/release/lns-bench demo "$@"
