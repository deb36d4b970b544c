#!/usr/bin/env python3
"""Scale figures for FHIRGate (everything on, as in bench.py): start-up time, memory idle
and with 10,000 idle keep-alive TLS connections, reload time with 50 policy files, and
small-GET throughput with one and two event loops. Prints a Markdown table and writes it
to Benchmarks/load/SCALE-latest.md.

Run through Benchmarks/load/run.sh (after the load cases) or alone:
    python3 Benchmarks/load/scale.py        (needs nginx, wrk, redis-server; release build)
"""
import asyncio
import os
import re
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402

IDLE_CONNECTIONS = int(os.environ.get("SCALE_IDLE_CONNECTIONS", "10000"))
POLICY_FILES = int(os.environ.get("SCALE_POLICY_FILES", "50"))


def rss_mb(pid):
    m = re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{pid}/status").read())
    return int(m.group(1)) / 1024


def http_get(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except Exception:
        return None, ""


RUNNING = []


class Gateway:
    """One `fhirgate serve` process on a config written to `d`."""

    def __init__(self, d, config_text, name="gateway", env=None):
        self.d = d
        self.config = os.path.join(d, f"{name}.yaml")
        open(self.config, "w").write(config_text)
        self.admin = re.search(r'admin:\s*\n\s*listen: "127.0.0.1:(\d+)"', config_text).group(1)
        self.started = time.monotonic()
        self.proc = subprocess.Popen([bench.FHIRGATE, "serve", "--config", self.config], cwd=d,
                                     stderr=open(os.path.join(d, f"{name}.log"), "w"),
                                     env={**os.environ, "FHIRGATE_LOG_LEVEL": "warning", **(env or {})})
        RUNNING.append(self)

    def wait_ready(self, timeout=60):
        """Milliseconds from exec until /readyz answers 200 (listener bound, keys, upstream probe)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited: " + open(self.config.replace(".yaml", ".log")).read()[-2000:])
            status, _ = http_get(f"http://127.0.0.1:{self.admin}/readyz", timeout=0.5)
            if status == 200:
                return (time.monotonic() - self.started) * 1000
            time.sleep(0.005)
        raise RuntimeError("gateway not ready")

    def reloads(self):
        _, text = http_get(f"http://127.0.0.1:{self.admin}/metrics")
        m = re.search(r'fhirgate_reloads_total\{result="success"\} (\d+)', text)
        return int(m.group(1)) if m else 0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def open_idle_connections(port, count, path):
    """`count` TLS connections, each with one keep-alive request answered, then left open."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    gate = asyncio.Semaphore(200)
    held = []
    request = f"GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode()

    async def one():
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
            await reader.readexactly(length)
            held.append(writer)
    results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    failures = [r for r in results if isinstance(r, Exception)]
    return held, failures


def mint(d, audience):
    """A patient/*.rs token for pat-a, signed by the dev key in d (made on first use)."""
    return subprocess.run([bench.FHIRGATE, "token", "--state-dir", d, "--scope", "patient/*.rs", "--aud", audience,
                           "--client", "bench-app", "--patient", "pat-a"], capture_output=True, text=True, check=True).stdout.strip()


def main():
    d = tempfile.mkdtemp(prefix="fhirgate-scale-")
    os.chmod(d, 0o755)
    procs = []
    rows = []
    try:
        bench.write_static(os.path.join(d, "www"))
        up, redis_port = bench.free_port(), bench.free_port()
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-keyout", f"{d}/server-key.pem", "-out", f"{d}/server.pem", "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
        procs.append(subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                      stdout=subprocess.DEVNULL))
        bench.template("nginx-upstream.conf", d, upstream_port=up)
        procs.append(subprocess.Popen(["nginx", "-c", f"{d}/nginx-upstream.conf", "-p", d, "-g", "daemon off;"], stderr=subprocess.DEVNULL))
        bench.wait_port(up)
        # The dev signing key and its JWKS (jwks.json, read by the gateway config) are made by
        # the first `fhirgate token` in d.
        mint(d, "https://localhost:1/patient/r4")

        # 1. Start-up and idle memory (three routes, the shipped policies and their tests).
        startups, idle_rss = [], []
        for i in range(3):
            gw, adm = bench.free_port(), bench.free_port()
            g = Gateway(d, bench.gateway_config(gw, adm, up, redis_port))
            startups.append(g.wait_ready())
            time.sleep(2)
            idle_rss.append(rss_mb(g.proc.pid))
            g.stop()
        rows.append(("start-up to ready (3 routes, 3 policies + their 142 tests)", f"{statistics.median(startups):.0f} ms (median of 3)"))
        rows.append(("memory at idle (RSS)", f"{statistics.median(idle_rss):.1f} MB"))

        # 2. 10,000 idle keep-alive TLS connections.
        gw, adm = bench.free_port(), bench.free_port()
        g = Gateway(d, bench.gateway_config(gw, adm, up, redis_port))
        g.wait_ready()
        base_rss = rss_mb(g.proc.pid)
        token = mint(d, f"https://localhost:{gw}/patient/r4")

        async def idle_phase():
            started = time.monotonic()
            held, failures = await open_idle_connections(gw, IDLE_CONNECTIONS, "/patient/r4/metadata")
            took = time.monotonic() - started
            await asyncio.sleep(1)
            loaded = rss_mb(g.proc.pid)
            probe = await asyncio.to_thread(bench.wrk, f"https://localhost:{gw}/patient/r4/Patient/pat-a",
                                            [f"Authorization: Bearer {token}"], False, "3s")
            for w in held:
                w.transport.abort()
            await asyncio.sleep(0.5)
            return held, failures, took, loaded, probe
        held, failures, took, loaded_rss, probe = asyncio.run(idle_phase())
        g.stop()
        per_conn = (loaded_rss - base_rss) * 1024 / max(1, len(held))
        rows.append((f"memory with {len(held):,} idle keep-alive TLS connections", f"{loaded_rss:.1f} MB (+{loaded_rss - base_rss:.1f} MB, "
                     f"{per_conn:.1f} KB per connection; opened in {took:.1f} s, {len(failures)} failed)"))
        rows.append((f"small GET while they are open (wrk -c{bench.CONNECTIONS})",
                     f"{probe['rps']:,.0f} req/s, p50 {probe['p50']:.1f} ms, p99 {probe['p99']:.1f} ms, {probe['non2xx']} non-2xx"))

        # 3. Reload with POLICY_FILES policy files (each a copy of the patient-facing policy with its tests).
        pdir = os.path.join(d, "policies")
        os.makedirs(pdir, exist_ok=True)
        for i in range(POLICY_FILES):
            shutil.copy(os.path.join(bench.ROOT, "Policies", "g10-patient-facing.yaml"), os.path.join(pdir, f"p{i:02d}.yaml"))
            shutil.copy(os.path.join(bench.ROOT, "Policies", "g10-patient-facing.tests.yaml"), os.path.join(pdir, f"p{i:02d}.tests.yaml"))
        gw, adm = bench.free_port(), bench.free_port()
        routes = [(f"r{i:02d}", os.path.join(pdir, f"p{i:02d}.yaml")) for i in range(POLICY_FILES)]
        g = Gateway(d, bench.gateway_config(gw, adm, up, redis_port, routes=routes), name="gateway50")
        startup50 = g.wait_ready()
        reloads = []
        for _ in range(3):
            before = g.reloads()
            t0 = time.monotonic()
            g.proc.send_signal(signal.SIGHUP)
            while g.reloads() == before:
                time.sleep(0.002)
                if time.monotonic() - t0 > 60:
                    raise RuntimeError("reload did not finish")
            reloads.append((time.monotonic() - t0) * 1000)
        tests = sum(open(os.path.join(pdir, f)).read().count("\n  - ") for f in os.listdir(pdir) if f.endswith(".tests.yaml"))
        g.stop()
        rows.append((f"start-up to ready with {POLICY_FILES} routes and policy files", f"{startup50:.0f} ms"))
        rows.append((f"SIGHUP reload with {POLICY_FILES} policy files (each with its tests, ~{tests:,} cases, run on every load)",
                     f"{statistics.median(reloads):.0f} ms (median of 3; requests keep being served by the old snapshot meanwhile)"))

        # 4. Throughput with one and two event loops (NIO's singleton group size).
        for loops in (1, 2):
            gw, adm = bench.free_port(), bench.free_port()
            g = Gateway(d, bench.gateway_config(gw, adm, up, redis_port), name=f"gateway-loops{loops}",
                        env={"NIO_SINGLETON_GROUP_LOOP_COUNT": str(loops)})
            g.wait_ready()
            token = mint(d, f"https://localhost:{gw}/patient/r4")
            url = f"https://localhost:{gw}/patient/r4/Patient/pat-a"
            bench.wrk(url, [f"Authorization: Bearer {token}"], duration="1s")
            before = bench.cpu_ticks([g.proc.pid])
            r = bench.wrk(url, [f"Authorization: Bearer {token}"])
            cpu = (bench.cpu_ticks([g.proc.pid]) - before) * 1e6 / os.sysconf("SC_CLK_TCK") / max(r["requests"], 1)
            g.stop()
            rows.append((f"small GET, {loops} event loop{'s' if loops > 1 else ''}",
                         f"{r['rps']:,.0f} req/s, p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, {cpu:.0f} CPU µs/req"))

        lines = [f"Scale figures: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}; wrk -t2 -c{bench.CONNECTIONS} -d{bench.DURATION}; "
                 "FHIRGate release build with everything on (as in the load table).", "", "| figure | value |", "|---|---|"]
        lines += [f"| {a} | {b} |" for a, b in rows]
        lines += ["", "Reproduce: `python3 Benchmarks/load/scale.py` (run.sh runs it after the load cases)."]
        table = "\n".join(lines)
        print(table)
        open(os.path.join(HERE, "SCALE-latest.md"), "w").write(table + "\n")
    finally:
        for g in RUNNING:
            if g.proc.poll() is None:
                g.proc.kill()
        bench.stop_all(procs)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
