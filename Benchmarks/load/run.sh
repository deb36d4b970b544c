#!/usr/bin/env bash
# Load benchmark: FHIRGate (everything on: TLS, JWT, scopes, policy, response guard, Redis
# rate limit, audit) next to nginx as a bare TLS proxy and HAProxy with jwt_verify, all on
# loopback in one run, measured with wrk. Prints a Markdown table and writes it to
# Benchmarks/load/RESULTS-latest.md.
#   Benchmarks/load/run.sh                 (BENCH_DURATION=8s BENCH_CONNECTIONS=64 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in nginx haproxy wrk redis-server openssl python3; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install -y nginx haproxy wrk redis-server)"; exit 1; }
done
swift build -c release --product fhirgate >/dev/null
exec python3 Benchmarks/load/bench.py "$@"
