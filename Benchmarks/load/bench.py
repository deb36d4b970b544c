#!/usr/bin/env python3
"""Load benchmark: FHIRGate side by side with nginx (bare TLS proxy) and HAProxy (TLS +
jwt_verify RS256 + scope regex + stick table), all on loopback in one run, measured with
wrk. Prints a Markdown table (and writes it to RESULTS-latest.md).

Run through Benchmarks/load/run.sh, which builds the release binary first.
Everything runs on this machine's cores together with the load generator, so compare
numbers within one run only.
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
FHIRGATE = os.environ.get("FHIRGATE_BINARY", os.path.join(ROOT, ".build", "release", "fhirgate"))
# The floor peer: a bare TLS proxy on the gateway's own stack (Benchmarks/Sources/NIOFloorProxy,
# built by run.sh). Left out when the binary is not there.
FLOOR = os.environ.get("FLOOR_BINARY", os.path.join(ROOT, ".build-bench", "release", "NIOFloorProxy"))
FLOOR_PEER = "SwiftNIO bare TLS proxy (the stack's floor)"
DURATION = os.environ.get("BENCH_DURATION", "8s")
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
# Subsets for quick iterations: BENCH_CASES=small,search,searchoff,bulk,fresh,h2 and
# BENCH_PEERS=direct,nginx,haproxy,floor (empty: FHIRGate alone). The default is everything.
CASES = os.environ.get("BENCH_CASES")
PEERS = os.environ.get("BENCH_PEERS")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def write_static(www):
    """The upstream's files: a 2.5 KB Patient, a 60 KB searchset Bundle of pat-a's
    Observations, a 5 MB NDJSON file, and metadata for the gateway's probe."""
    fhir = os.path.join(www, "fhir")
    os.makedirs(os.path.join(fhir, "Patient"), exist_ok=True)
    os.makedirs(os.path.join(fhir, "Binary"), exist_ok=True)
    patient = {"resourceType": "Patient", "id": "pat-a", "meta": {"versionId": "1", "lastUpdated": "2026-01-15T10:00:00Z"},
               "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">" + "Ana Rivera. " * 180 + "</div>"},
               "identifier": [{"system": "urn:oid:2.16.840.1.113883.3.9999", "value": "MRN-pat-a"}],
               "name": [{"family": "Rivera", "given": ["Ana"]}], "gender": "female", "birthDate": "1984-03-02"}
    open(os.path.join(fhir, "Patient", "pat-a"), "w").write(json.dumps(patient))
    entries = []
    i = 0
    while len(json.dumps(entries)) < 60_000:
        obs = {"resourceType": "Observation", "id": f"obs-{i}", "meta": {"versionId": "1", "lastUpdated": "2026-01-15T10:00:00Z"},
               "status": "final", "subject": {"reference": "Patient/pat-a"}, "effectiveDateTime": "2026-01-10T09:15:00Z",
               "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
               "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}], "text": "Glucose"},
               "valueQuantity": {"value": 95, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}}
        entries.append({"fullUrl": f"http://127.0.0.1:1/fhir/Observation/obs-{i}", "resource": obs, "search": {"mode": "match"}})
        i += 1
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries,
              "link": [{"relation": "self", "url": "http://127.0.0.1:1/fhir/Observation?patient=pat-a"}]}
    open(os.path.join(fhir, "Observation"), "w").write(json.dumps(bundle))
    line = json.dumps({"resourceType": "Observation", "id": "x", "status": "final", "subject": {"reference": "Patient/pat-a"}}) + "\n"
    with open(os.path.join(fhir, "Binary", "bulk-5mb"), "w") as f:
        f.write(line * (5_000_000 // len(line)))
    open(os.path.join(fhir, "metadata"), "w").write(json.dumps({"resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
                                                             "fhirVersion": "4.0.1", "format": ["json"], "date": "2026-01-01"}))
    return {"small": len(json.dumps(patient)), "search": len(json.dumps(bundle))}


def rs256_token(d, scope, client):
    subprocess.run(["openssl", "genrsa", "-out", f"{d}/rs256.key", "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", f"{d}/rs256.key", "-pubout", "-out", f"{d}/rs256.pub"], check=True, capture_output=True)
    header = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"iss": "https://as.bench", "aud": "bench", "exp": int(time.time()) + 3600, "scope": scope,
                              "client_id": client}).encode())
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", f"{d}/rs256.key"], input=f"{header}.{payload}".encode(),
                               check=True, capture_output=True).stdout
    return f"{header}.{payload}.{b64(signature)}"


def template(name, d, **ports):
    text = open(os.path.join(HERE, name)).read().replace("{dir}", d)
    for k, v in ports.items():
        text = text.replace("{" + k + "}", str(v))
    path = os.path.join(d, name)
    open(path, "w").write(text)
    return path


def wait_port(port, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def pids_of(proc_or_pidfile):
    """A process and its children (nginx workers)."""
    if isinstance(proc_or_pidfile, str):
        pid = int(open(proc_or_pidfile).read())
    else:
        pid = proc_or_pidfile.pid
    out = [pid]
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return out + [int(c) for c in children]


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def peak_rss_mb(pids):
    total = 0
    for pid in pids:
        try:
            m = re.search(r"VmHWM:\s+(\d+)", open(f"/proc/{pid}/status").read())
            total += int(m.group(1)) if m else 0
        except OSError:
            pass
    return total / 1024


def wrk(url, headers, new_connections=False, duration=None):
    args = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{duration or DURATION}", "--latency"]
    for h in headers:
        args += ["-H", h]
    if new_connections:
        args += ["-H", "Connection: close"]
    out = subprocess.run(args + [url], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)

    def latency(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return None
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
    return {"rps": rps, "requests": requests, "p50": latency(50), "p99": latency(99),
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "errors": errors.group(1) if errors else ""}


def h2load(url, headers, duration=None):
    """HTTP/2 over TLS (ALPN h2): 16 connections with 4 concurrent streams each (64 in
    flight, as wrk's 64 connections). h2load reports the mean, not percentiles."""
    seconds = (duration or DURATION).rstrip("s")
    args = ["h2load", "-c16", "-m4", "-t2", "-D", seconds]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(args + [url], capture_output=True, text=True).stdout
    rps = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out).group(1))
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", out)
    mean_ms = None
    if mean:
        v = float(mean.group(1))
        mean_ms = v / 1000 if mean.group(2) == "us" else v * 1000 if mean.group(2) == "s" else v
    non2xx = sum(int(codes.group(k)) for k in (2, 3, 4)) if codes else 0
    return {"rps": rps, "requests": int(done.group(1)) if done else 0, "p50": None, "p99": None, "mean": mean_ms,
            "non2xx": non2xx, "errors": ""}


def stop_all(procs):
    """SIGTERM to every process, then wait (kill what does not stop within 10 s)."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def load(url, headers, mode, duration=None):
    """mode: False (keep-alive), True (new connection per request) or "h2"."""
    if mode == "h2":
        return h2load(url, headers, duration)
    return wrk(url, headers, mode, duration)


def gateway_config(gw, adm, up, redis_port, routes=None):
    """FHIRGate with everything on: TLS, JWT, the shipped policies, Redis rate limit, audit."""
    root = ROOT + "/Policies"
    base = f"https://localhost:{gw}"
    if routes is None:
        # "plain": no policy file, so no data rules: the "guard off" case (scopes only; Bundle
        # links are still rewritten, which reads the Bundle once).
        routes = [("patient", "g10-patient-facing.yaml"), ("provider", "g10-provider-facing.yaml"), ("backend", "bulk-export.yaml"),
                  ("plain", None)]

    def policy_part(policy):
        if policy is None:
            return ""
        return f'policy: "{policy if policy.startswith("/") else root + "/" + policy}", '
    route_lines = "\n".join(
        f'  - {{ name: {name}, base_url: "{base}/{name}/r4", upstream: "http://127.0.0.1:{up}/fhir", '
        f'{policy_part(policy)}upstream_authorization: strip }}'
        for name, policy in routes)
    redis = "" if os.environ.get("BENCH_ABLATE_REDIS") else f'rate_limit: {{ redis: "redis://127.0.0.1:{redis_port}/0" }}'
    audit_wait = "on_audit_failure: allow" if os.environ.get("BENCH_ABLATE_AUDIT_WAIT") else ""
    return f"""
server:
  listen: "127.0.0.1:{gw}"
  tls: {{ certificate: server.pem, private_key: server-key.pem, min_version: "1.2" }}
  limits: {{ max_connections: 20000, max_connections_per_ip: 20000 }}
  watch_files: false
  http2: {"false" if os.environ.get("BENCH_HTTP2") == "0" else "true"}
admin:
  listen: "127.0.0.1:{adm}"
auth:
  issuers:
    - issuer: "https://auth.demo.fhirgate.local"
      jwks_file: jwks.json
{redis}
audit:
  path: audit.jsonl
  fsync: interval
  {audit_wait}
routes:
{route_lines}
"""


def main():
    d = tempfile.mkdtemp(prefix="fhirgate-load-")
    os.chmod(d, 0o755)  # nginx workers run as an unprivileged user and read the static files
    procs = []
    try:
        sizes = write_static(os.path.join(d, "www"))
        up, ngx, hap, gw, adm, flr = (free_port() for _ in range(6))
        # Certificates and the gateway's signing key come from the gateway's own dev tooling.
        fhirgate_token = lambda scope, patient, aud, client: subprocess.run(
            [FHIRGATE, "token", "--state-dir", d, "--scope", scope, "--aud", aud, "--client", client]
            + (["--patient", patient] if patient else []), capture_output=True, text=True, check=True).stdout.strip()
        base = f"https://localhost:{gw}"
        patient_token = fhirgate_token("patient/*.rs", "pat-a", base + "/patient/r4", "bench-app")
        user_token = fhirgate_token("user/*.rs", None, base + "/provider/r4", "bench-app")
        plain_token = fhirgate_token("user/*.rs", None, base + "/plain/r4", "bench-app")
        system_token = fhirgate_token("system/*.read", None, base + "/backend/r4", "bench-app")
        # One certificate (EC P-256, self-signed) for every proxy, so TLS costs the same.
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-keyout", f"{d}/server-key.pem", "-out", f"{d}/server.pem", "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
        open(f"{d}/haproxy.pem", "w").write(open(f"{d}/server.pem").read() + open(f"{d}/server-key.pem").read())
        hap_token = rs256_token(d, "patient/*.rs", "bench-app")

        redis_port = free_port()
        procs.append(subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                      stdout=subprocess.DEVNULL))
        template("nginx-upstream.conf", d, upstream_port=up)
        template("nginx-proxy.conf", d, upstream_port=up, nginx_port=ngx)
        template("haproxy.cfg", d, upstream_port=up, haproxy_port=hap)
        procs.append(subprocess.Popen(["nginx", "-c", f"{d}/nginx-upstream.conf", "-p", d, "-g", "daemon off;"], stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(["nginx", "-c", f"{d}/nginx-proxy.conf", "-p", d, "-g", "daemon off;"], stderr=subprocess.DEVNULL))
        procs.append(hap_proc := subprocess.Popen(["haproxy", "-f", f"{d}/haproxy.cfg"], stdout=subprocess.DEVNULL,
                                                  stderr=open(f"{d}/haproxy.err", "w")))
        floor = os.path.exists(FLOOR) and (PEERS is None or "floor" in PEERS.split(","))
        if floor:
            procs.append(floor_proc := subprocess.Popen([FLOOR, str(flr), str(up), f"{d}/server.pem", f"{d}/server-key.pem"],
                                                        stdout=subprocess.DEVNULL, stderr=open(f"{d}/floor.err", "w")))
        config = gateway_config(gw, adm, up, redis_port)
        open(f"{d}/gateway.yaml", "w").write(config)
        gateway = subprocess.Popen([FHIRGATE, "serve", "--config", f"{d}/gateway.yaml"], stderr=open(f"{d}/gateway.log", "w"),
                                   env={**os.environ, "FHIRGATE_LOG_LEVEL": "warning"})
        procs.append(gateway)
        for label, p in (("upstream nginx", up), ("nginx proxy", ngx), ("haproxy", hap), ("fhirgate", gw)) + ((("floor proxy", flr),) if floor else ()):
            try:
                wait_port(p)
            except RuntimeError:
                for log in ("nginx-upstream.err", "nginx-proxy.err", "haproxy.err", "gateway.log", "floor.err"):
                    if os.path.exists(f"{d}/{log}"):
                        print(f"--- {log}\n" + open(f"{d}/{log}").read()[-2000:], file=sys.stderr)
                raise RuntimeError(f"{label} does not listen on {p}")
        time.sleep(1)

        peers = {
            "direct upstream": (None, lambda path: f"http://127.0.0.1:{up}/fhir{path}", []),
            "nginx TLS proxy, no auth": (f"{d}/nginx-proxy.pid", lambda path: f"https://localhost:{ngx}/fhir{path}", []),
            "HAProxy TLS + jwt_verify RS256 + scope regex + stick table": (hap_proc, lambda path: f"https://localhost:{hap}/fhir{path}",
                                                                          [f"Authorization: Bearer {hap_token}"]),
        }
        if floor:
            peers[FLOOR_PEER] = (floor_proc, lambda path: f"https://localhost:{flr}/fhir{path}", [])
        if PEERS is not None:
            keys = {"direct": "direct upstream", "nginx": "nginx TLS proxy, no auth", "haproxy": "HAProxy TLS + jwt_verify RS256 + scope regex + stick table",
                    "floor": FLOOR_PEER}
            wanted = {keys[k] for k in PEERS.split(",") if k}
            peers = {k: v for k, v in peers.items() if k in wanted}
        cases = [
            ("small", "GET Patient (2.5 KB)", "/Patient/pat-a", "patient", patient_token, False),
            ("search", "GET Observation search (60 KB Bundle), guard on", "/Observation?patient=pat-a", "patient", patient_token, False),
            ("searchoff", "GET Observation search (60 KB Bundle), guard off (user/ scope, no data rules; links rewritten)", "/Observation?patient=pat-a", "plain", plain_token, False),
            # Ablation only (not in the default run): the small GET through the provider route (user/ scope, no data rule).
            ("smalluser", "GET Patient (2.5 KB), user/ scope", "/Patient/pat-a", "provider", user_token, False),
            # Ablation only: a public read (no token, no policy data rule, nothing to guard): TLS, HTTP, forward, audit.
            ("public", "GET metadata (public, no token)", "/metadata", "patient", None, False),
            ("bulk", "GET 5 MB NDJSON", "/Binary/bulk-5mb", "backend", system_token, False),
            ("fresh", "new TLS connection per request (GET Patient)", "/Patient/pat-a", "patient", patient_token, True),
            ("h2", "GET Patient (2.5 KB) over HTTP/2 (h2load, 16 connections × 4 streams)", "/Patient/pat-a", "patient", patient_token, "h2"),
        ]
        if CASES:
            cases = [c for c in cases if c[0] in CASES.split(",")]
        else:
            cases = [c for c in cases if c[0] not in ("smalluser", "public")]
        rows = []
        for _, name, path, route, token, fresh in cases:
            row = {"case": name}
            for peer, (pidsrc, url, headers) in peers.items():
                if "guard off" in name and peer != "direct upstream":
                    continue
                if fresh == "h2" and peer in ("direct upstream", FLOOR_PEER):
                    continue  # the upstream and the floor proxy speak HTTP/1.1 only
                pids = pids_of(pidsrc) if pidsrc else []
                load(url(path), headers, fresh, duration="1s")  # warm-up: pools, caches, TLS sessions
                before = cpu_ticks(pids)
                r = load(url(path), headers, fresh)
                used = cpu_ticks(pids) - before
                r["cpu_us"] = used * 1e6 / os.sysconf("SC_CLK_TCK") / max(r["requests"], 1) if pids else None
                r["rss"] = peak_rss_mb(pids) if pids else None
                row[peer] = r
            pids = [gateway.pid]
            gateway_url = f"{base}/{route}/r4{path}"
            auth = [f"Authorization: Bearer {token}"] if token else []
            load(gateway_url, auth, fresh, duration="1s")  # warm-up, as for the peers
            before = cpu_ticks(pids)
            # BENCH_PERF=file: a perf profile of the gateway during its first case.
            perf = None
            if os.environ.get("BENCH_PERF") and not rows:
                if os.environ["BENCH_PERF"].startswith("strace:"):
                    # BENCH_PERF=strace:file: system call counts instead of a profile.
                    perf = subprocess.Popen(["strace", "-f", "-p", str(gateway.pid), "-o", os.environ["BENCH_PERF"][7:]]
                                            + (["-e", os.environ["BENCH_STRACE"]] if os.environ.get("BENCH_STRACE") else ["-c"]),
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                elif os.environ["BENCH_PERF"].startswith("stat:"):
                    # BENCH_PERF=stat:file: instructions (where the machine counts them) and context switches
                    # per request: steadier than time on a shared machine.
                    perf = subprocess.Popen(["perf", "stat", "-e", "instructions:u,instructions:k,task-clock,context-switches",
                                             "-p", str(gateway.pid),
                                             "-o", os.environ["BENCH_PERF"][5:]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                else:
                    perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-p", str(gateway.pid), "-o", os.environ["BENCH_PERF"]],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            r = load(gateway_url, auth, fresh)
            r["cpu_us"] = (cpu_ticks(pids) - before) * 1e6 / os.sysconf("SC_CLK_TCK") / max(r["requests"], 1)
            r["rss"] = peak_rss_mb(pids)
            if perf:
                perf.send_signal(signal.SIGINT)
                perf.wait()
                if os.environ["BENCH_PERF"].startswith("stat:"):
                    stat = open(os.environ["BENCH_PERF"][5:]).read()
                    for event in ("instructions:u", "instructions:k", "context-switches"):
                        m = re.search(r"([\d,]+)\s+" + event, stat)
                        if m:
                            print(f"{name}: {int(m.group(1).replace(',', '')) / max(r['requests'], 1):,.2f} {event}/request",
                                  file=sys.stderr)
            row["FHIRGate, everything on"] = r
            rows.append(row)
            print(name, {k: (v["rps"] if isinstance(v, dict) else v) for k, v in row.items() if k != "case"}, file=sys.stderr)

        cpu = open("/proc/cpuinfo").read()
        model = re.search(r"model name\s*:\s*(.*)", cpu)
        lines = [f"Machine: {os.cpu_count()} cores, {model.group(1) if model else 'unknown CPU'}; wrk -t2 -c{CONNECTIONS} -d{DURATION}; "
                 f"{time.strftime('%Y-%m-%d')}. Load generator, upstream (nginx, static files) and proxies share the cores.", ""]
        peers_all = ["direct upstream", "nginx TLS proxy, no auth", "HAProxy TLS + jwt_verify RS256 + scope regex + stick table", "FHIRGate, everything on"]
        # The floor's columns come last so the others keep their places for scripts that read them.
        lines.append("| case | " + " | ".join(peers_all) + f" | FHIRGate/HAProxy | FHIRGate/nginx | {FLOOR_PEER} | floor/HAProxy | FHIRGate/floor |")
        lines.append("|---|" + "---:|" * (len(peers_all) + 5))

        def cell(r):
            if not r:
                return "—"
            text = f"{r['rps']:,.0f} req/s"
            if r.get("p50") is not None:
                text += f", p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms"
            elif r.get("mean") is not None:
                text += f", mean {r['mean']:.1f} ms"
            if r.get("cpu_us") is not None:
                text += f", {r['cpu_us']:.0f} CPU µs/req, peak RSS {r['rss']:.0f} MB"
            if r.get("non2xx"):
                text += f", **{r['non2xx']} non-2xx**"
            return text
        for row in rows:
            g = row.get("FHIRGate, everything on")
            h = row.get("HAProxy TLS + jwt_verify RS256 + scope regex + stick table")
            n = row.get("nginx TLS proxy, no auth")
            ratio = lambda a, b: f"{a['rps'] / b['rps']:.2f}×" if a and b else "—"
            f = row.get(FLOOR_PEER)
            lines.append(f"| {row['case']} | " + " | ".join(cell(row.get(p)) for p in peers_all) + f" | {ratio(g, h)} | {ratio(g, n)} | "
                         + f"{cell(f)} | {ratio(f, h)} | {ratio(g, f)} |")
        lines += ["", f"Sizes: Patient {sizes['small']:,} bytes, Bundle {sizes['search']:,} bytes. "
                  "Reproduce: `Benchmarks/load/run.sh` (needs nginx, haproxy, wrk, redis-server)."]
        table = "\n".join(lines)
        print(table)
        open(os.path.join(HERE, "RESULTS-latest.md"), "w").write(table + "\n")
    finally:
        stop_all(procs)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
