#!/usr/bin/env python3
"""A hostile OCI registry for attack tests: a loopback reverse proxy in front of a real
registry (`docker-registry`) that serves other bytes where its rules say so.

    hostile_registry.py --upstream 127.0.0.1:5000 --port 5001 --rules rules.json

The rules file is read again at every request, so a test can change the attack between
verifications. It is a JSON list; the first rule whose `path` equals the request path applies:

    {"path": "/v2/app/manifests/v1",
     "serve": "/v2/app/manifests/evil",       # body (and Content-Type) of another upstream path
     "digest_header": "sha256:…"}             # Docker-Content-Digest to claim (default: upstream's)
    {"path": "/v2/app/blobs/sha256:…", "flip_last_byte": true}
    {"path": "/v2/app/blobs/sha256:…", "append": "x"}
    {"path": "/v2/app/manifests/sha256-…", "status": 404}    # an empty answer with this status

Everything else is forwarded unchanged (method, path and query, Accept, Authorization).
Only the standard library; prints `listening on 127.0.0.1:PORT` once it accepts connections.
"""

import argparse
import http.client
import http.server
import json
import sys


def load_rules(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return []


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rules", required=True)
    args = parser.parse_args()
    upstream_host, upstream_port = args.upstream.rsplit(":", 1)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            sys.stderr.write("hostile: " + (fmt % a) + "\n")

        def upstream(self, method, path):
            conn = http.client.HTTPConnection(upstream_host, int(upstream_port), timeout=10)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() in ("accept", "authorization", "user-agent")}
            conn.request(method, path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            return resp.status, dict(resp.getheaders()), body

        def handle_any(self, method):
            path = self.path.split("?", 1)[0]
            rule = next((r for r in load_rules(args.rules) if r.get("path") == path), None)
            if rule and "status" in rule:
                self.send_response(rule["status"])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if rule and "serve" in rule:
                status, headers, body = self.upstream("GET", rule["serve"])
                if "digest_header" in rule:
                    headers["Docker-Content-Digest"] = rule["digest_header"]
            else:
                # Blobs are fetched with GET even for HEAD, to be able to rewrite them.
                status, headers, body = self.upstream("GET" if rule else method, self.path)
            if rule and rule.get("flip_last_byte") and body:
                body = body[:-1] + bytes([body[-1] ^ 1])
            if rule and "append" in rule:
                body = body + rule["append"].encode()
            self.send_response(status)
            for k, v in headers.items():
                if k.lower() in ("content-type", "docker-content-digest", "www-authenticate",
                                 "docker-distribution-api-version"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(body)

        def do_GET(self):
            self.handle_any("GET")

        def do_HEAD(self):
            self.handle_any("HEAD")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
