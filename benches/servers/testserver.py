#!/usr/bin/env python3
"""Test HTTP server for the haul benchmarks (127.0.0.1 only).

Endpoints:
  GET /delay/N   answers after --delay-ms (default 100 ms) with synth_body(N)
  GET /flaky/N   N % 5 == 0: the first request for that N answers 503, every
                 later one 200; other N always 200. Body: synth_body(N)
  GET /stats     JSON request counters (not counted themselves)
  GET /reset     clears the counters
  GET /m/N       (with --root) always serves ROOT/one.bin (memory case)
  GET /PATH      (with --root) static file ROOT/PATH (fallback bulk server
                 when nginx is not installed)

Runs on aiohttp when it can be imported (the harness starts it with the venv
interpreter), else on the standard library's ThreadingHTTPServer. Prints
"LISTENING <port> <backend>" on stdout once it accepts connections.
"""

import argparse
import hashlib
import json
import os
import sys
import threading


def synth_body(n: int) -> bytes:
    """1 KiB body for /delay/N and /flaky/N (bench.py has the same function)."""
    return hashlib.sha256(b"haul-bench-%d" % n).digest() * 32


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.seen = {}  # flaky N -> requests
        self.flaky = 0
        self.delay = 0
        self.static = 0
        self.status_503 = 0

    def snapshot(self):
        return {
            "flaky_requests": self.flaky,
            "flaky_urls": len(self.seen),
            "delay_requests": self.delay,
            "static_requests": self.static,
            "status_503": self.status_503,
            "requests": self.flaky + self.delay + self.static,
        }

    def flaky_hit(self, n: int) -> bool:
        """Count a /flaky/N request; True when it must answer 503."""
        with self.lock:
            self.flaky += 1
            c = self.seen.get(n, 0) + 1
            self.seen[n] = c
            fail = n % 5 == 0 and c == 1
            if fail:
                self.status_503 += 1
            return fail


def parse_n(s: str):
    try:
        return int(s)
    except ValueError:
        return None


def safe_static(root: str, rel: str):
    rel = rel.lstrip("/")
    path = os.path.realpath(os.path.join(root, rel))
    if not path.startswith(os.path.realpath(root) + os.sep) or not os.path.isfile(path):
        return None
    return path


def run_aiohttp(args, counters: Counters):
    import asyncio

    from aiohttp import web

    delay = args.delay_ms / 1000.0

    async def h_delay(request):
        n = parse_n(request.match_info["n"])
        if n is None:
            raise web.HTTPNotFound()
        counters.delay += 1
        await asyncio.sleep(delay)
        return web.Response(body=synth_body(n), content_type="application/octet-stream")

    async def h_flaky(request):
        n = parse_n(request.match_info["n"])
        if n is None:
            raise web.HTTPNotFound()
        if counters.flaky_hit(n):
            return web.Response(status=503, text="busy\n")
        return web.Response(body=synth_body(n), content_type="application/octet-stream")

    async def h_stats(request):
        return web.json_response(counters.snapshot())

    async def h_reset(request):
        counters.reset()
        return web.json_response({"ok": True})

    async def h_one(request):
        counters.static += 1
        return web.FileResponse(os.path.join(args.root, "one.bin"))

    async def h_static(request):
        path = safe_static(args.root, request.match_info["tail"])
        if path is None:
            raise web.HTTPNotFound()
        counters.static += 1
        return web.FileResponse(path)

    app = web.Application()
    app.router.add_get("/delay/{n}", h_delay)
    app.router.add_get("/flaky/{n}", h_flaky)
    app.router.add_get("/stats", h_stats)
    app.router.add_get("/reset", h_reset)
    if args.root:
        app.router.add_get("/m/{n}", h_one)
        app.router.add_get("/{tail:.+}", h_static)

    async def main():
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=4096)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        print(f"LISTENING {port} aiohttp", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())


def run_stdlib(args, counters: Counters):
    import shutil
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    delay = args.delay_ms / 1000.0

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send_bytes(self, status, body, ctype="application/octet-stream"):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def send_file(self, path):
            size = os.path.getsize(path)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if self.command != "HEAD":
                with open(path, "rb") as f:
                    shutil.copyfileobj(f, self.wfile, 256 * 1024)

        def do_GET(self):
            p = self.path.split("?", 1)[0]
            parts = p.strip("/").split("/")
            if p == "/stats":
                return self.send_bytes(200, json.dumps(counters.snapshot()).encode(), "application/json")
            if p == "/reset":
                counters.reset()
                return self.send_bytes(200, b'{"ok": true}', "application/json")
            if len(parts) == 2 and parts[0] in ("delay", "flaky") and parse_n(parts[1]) is not None:
                n = int(parts[1])
                if parts[0] == "delay":
                    with counters.lock:
                        counters.delay += 1
                    time.sleep(delay)
                elif counters.flaky_hit(n):
                    return self.send_bytes(503, b"busy\n", "text/plain")
                return self.send_bytes(200, synth_body(n))
            if args.root:
                if len(parts) == 2 and parts[0] == "m":
                    path = os.path.join(args.root, "one.bin")
                else:
                    path = safe_static(args.root, p)
                if path:
                    with counters.lock:
                        counters.static += 1
                    return self.send_file(path)
            self.send_bytes(404, b"not found\n", "text/plain")

        do_HEAD = do_GET

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 4096

    srv = Server(("127.0.0.1", args.port), Handler)
    print(f"LISTENING {srv.server_address[1]} stdlib", flush=True)
    srv.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay-ms", type=float, default=100.0)
    ap.add_argument("--root", help="serve static files from this folder")
    ap.add_argument("--backend", choices=["auto", "aiohttp", "stdlib"], default="auto")
    args = ap.parse_args()
    counters = Counters()
    backend = args.backend
    if backend == "auto":
        try:
            import aiohttp  # noqa: F401

            backend = "aiohttp"
        except ImportError:
            backend = "stdlib"
    try:
        if backend == "aiohttp":
            run_aiohttp(args, counters)
        else:
            run_stdlib(args, counters)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
