#!/usr/bin/env bash
# Load benchmark: FHIRGate (everything on: TLS, JWT, scopes, policy, response guard, Redis
# rate limit, audit) next to nginx as a bare TLS proxy, HAProxy with jwt_verify and a bare
# TLS proxy built on FHIRGate's own stack (the floor), all on loopback in one run,
# measured with wrk (h2load for the HTTP/2 case). Prints a Markdown table and writes it
# to Benchmarks/load/RESULTS-latest.md; then the scale figures (scale.py: start-up,
# memory idle and with 10,000 idle connections, reload with 50 policies, 1 vs 2 event
# loops) to Benchmarks/load/SCALE-latest.md.
#   Benchmarks/load/run.sh                 (BENCH_DURATION=8s BENCH_CONNECTIONS=64 by default)
#   BENCH_CASES=small,h2 BENCH_PEERS=haproxy Benchmarks/load/run.sh     (a subset)
#   BENCH_SCALE=0 skips the scale figures; BENCH_PERF=file records a perf profile of the
#   gateway during its first case (BENCH_PERF=strace:file counts system calls instead).
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in nginx haproxy wrk h2load redis-server openssl python3; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install -y nginx haproxy wrk nghttp2-client redis-server)"; exit 1; }
done
swift build -c release --product fhirgate >/dev/null
# The floor peer: a bare TLS proxy on the gateway's own stack (SwiftNIO + swift-nio-ssl).
rm -f .build-bench/*/release/description.json
swift build -c release --package-path Benchmarks --scratch-path .build-bench --product NIOFloorProxy >/dev/null
python3 Benchmarks/load/bench.py "$@"
if [ "${BENCH_SCALE:-1}" != "0" ]; then
  python3 Benchmarks/load/scale.py
fi
