#!/usr/bin/env bash
# make bench-core: `openssl speed` (16 KiB column) then the in-process benchmarks; prints the
# key=value lines of performance.md §6. Usage: bench/bench_core.sh <build-dir> [extra args]
set -euo pipefail
build="${1:-build/bench}"
shift || true
kbps=$(openssl speed -evp aes-128-ctr -seconds 2 -bytes 16384 2>/dev/null |
  awk '/^AES-128-CTR/ {v=$2; sub(/k$/, "", v); print v}')
gbps=$(awk -v k="${kbps:-0}" 'BEGIN { printf "%.2f", k * 1000 / 1e9 }')
exec "$build/bench/zipnet_bench_core" --openssl-gbps="$gbps" "$@"
