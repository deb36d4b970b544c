#!/usr/bin/env bash
# Hot-path micro-benchmarks in one go: builds release, starts a throwaway redis-server on
# a free loopback port for the limiter figures, prints Markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
# SwiftPM caches the source list of the path dependency: drop it so new files are seen.
rm -f .build-bench/*/release/description.json
swift build -c release --package-path Benchmarks --scratch-path .build-bench >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null &
redis=$!
trap 'kill $redis 2>/dev/null || true' EXIT
sleep 0.3
echo "machine: $(nproc) cores, $(uname -m), $(date -u +%Y-%m-%d)"
FHIRGATE_BENCH_REDIS="redis://127.0.0.1:$port/0" .build-bench/release/HotPathBenchmarks "$@"
