"""Helpers shared by the benches: processes, the local API server, the agent's RSS and CPU.

Python 3 standard library only; imported by benches/*/run (which add benches/lib to sys.path).
"""

import http.client
import json
import os
import re
import socket
import signal
import ssl
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def run(cmd, timeout=300, check=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise BenchError(f"`{' '.join(cmd)}` exited {p.returncode}:\n{p.stderr[-3000:]}")
    return p


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """Tiny client of the local API server (admin client certificate), keep-alive."""

    def __init__(self, cluster_dir, port):
        pki = os.path.join(cluster_dir, "pki")
        self.ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
        self.ctx.load_cert_chain(os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key"))
        self.port = port
        self.conn = None

    def request(self, method, path, body=None, ctype="application/json"):
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                                            context=self.ctx, timeout=30)
                headers = {"Accept": "application/json"}
                data = None
                if body is not None:
                    data = json.dumps(body).encode()
                    headers["Content-Type"] = ctype
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt == 2:
                    raise
                time.sleep(0.2)

    def get_json(self, path):
        code, data = self.request("GET", path)
        if code != 200:
            raise BenchError(f"GET {path}: {code} {data[:300]!r}")
        return json.loads(data)

    def write_requests(self, resources):
        """{(verb, dry_run): count} of apiserver_request_total for the benchmark's resources."""
        code, data = self.request("GET", "/metrics")
        if code != 200:
            raise BenchError(f"GET /metrics: {code}")
        out = {}
        for line in data.decode().splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
            if labels.get("resource") not in resources or labels.get("subresource"):
                continue
            key = (labels.get("verb", ""), labels.get("dry_run", ""))
            out[key] = out.get(key, 0) + float(line.rsplit(" ", 1)[1])
        return out


def delta(after, before):
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}


def fmt_requests(d):
    parts = []
    for (verb, dry), n in sorted(d.items()):
        parts.append(f"{verb}{' dry-run' if dry else ''} {int(n)}")
    return ", ".join(parts) or "none"


class Agent:
    def __init__(self, binary, kubeconfig, port, token_file, namespace, cache_dir, log_path,
                 extra_env=(), extra_args=()):
        self.port = port
        self.log_path = log_path
        self.logf = open(log_path, "w")
        env = dict(os.environ)
        # Default filter plus pi-agent's own debug lines (they count the drift watcher's work).
        env["PI_AGENT_LOG"] = "info,kube=warn,hyper=warn,pi_agent=debug"
        for kv in extra_env:
            k, _, v = kv.partition("=")
            env[k] = v
        self.proc = subprocess.Popen(
            [binary, "run", "--kubeconfig", kubeconfig, "--listen", f"127.0.0.1:{port}",
             "--sync-token-file", token_file, "--cache-dir", cache_dir, "--allow-file-urls",
             *(["--namespace", namespace] if namespace else []), *extra_args],
            stdout=self.logf, stderr=subprocess.STDOUT, env=env)
        self.pid = self.proc.pid
        self.conn = None

    def alive(self):
        return self.proc.poll() is None

    def http(self, method, path, headers=None, fresh=False):
        if fresh:  # a request that must not be sent twice: no stale keep-alive connection
            self.close()
            return self._http(method, path, headers)
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                self.conn.request(method, path, headers=headers or {})
                r = self.conn.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt == 2:
                    raise
                time.sleep(0.1)

    def _http(self, method, path, headers):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self.conn.request(method, path, headers=headers or {})
        r = self.conn.getresponse()
        return r.status, r.read()

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def metrics(self):
        """{(metric name, series labels): value} of the agent's /metrics."""
        code, data = self.http("GET", "/metrics")
        if code != 200:
            raise BenchError(f"agent /metrics: {code}")
        out = {}
        for line in data.decode().splitlines():
            if not line or line.startswith("#"):
                continue
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
            if m:
                out[(m.group(1), m.group(2) or "")] = float(m.group(3))
        return out

    def proc_status(self):
        fields = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS"):
                    fields[k] = int(v.split()[0])  # kB
        return fields

    def cpu_seconds(self):
        return cpu_of(self.pid)

    def stop(self):
        self.close()
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if not self.logf.closed:
            self.logf.close()


class RssSampler(threading.Thread):
    """Samples VmRSS of the agent processes every 20 ms; the peak per phase."""

    def __init__(self):
        super().__init__(daemon=True)
        self.pids = {}
        self.phase = "start"
        self.peaks = {}  # (label, phase) -> kB
        self.running = True

    def run(self):
        while self.running:
            for label, pid in list(self.pids.items()):
                try:
                    with open(f"/proc/{pid}/status") as f:
                        for line in f:
                            if line.startswith("VmRSS:"):
                                kb = int(line.split()[1])
                                key = (label, self.phase)
                                self.peaks[key] = max(self.peaks.get(key, 0), kb)
                                break
                except OSError:
                    pass
            time.sleep(0.02)


def cpu_of(pid):
    """User + system CPU seconds of a process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(what, secs, fn, step=0.2):
    deadline = time.monotonic() + secs
    while True:
        r = fn()
        if r:
            return r
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {secs}s waiting for {what}")
        time.sleep(step)


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    return f"{os.cpu_count()} cores ({cpu}), {mem // 1024} GiB"
