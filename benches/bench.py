#!/usr/bin/env python3
"""Benchmark harness for haul against curl, aria2c, wget2 and an aiohttp script.

    python3 benches/bench.py [--quick] [--scenario NAME ...] [--runs N] [--haul PATH]
    python3 benches/bench.py --haul NEW --haul-baseline OLD [--tools haul,haul-base] ...

Standard library only (Python 3.11+). Builds haul with `cargo build --release
--locked` unless --haul is given, builds a corpus in a temporary folder
(tmpfs when /dev/shm exists), serves it from nginx on 127.0.0.1 (or a Python
server when nginx is not installed), runs every installed tool at the same
concurrency, verifies every run, and prints one Markdown table per scenario
(also written to benches/results/latest.md and latest.json).

With --haul-baseline a second haul build runs as the tool "haul-base", with
haul's exact arguments, in the same interleaved rounds (each round starts
with the next tool, so none always goes first); each scenario then also
reports the haul/haul-base ratios of median wall and CPU time.

The h2 scenario serves 2,000 x 16 KiB from a second nginx over TLS with
HTTP/2 (a self-signed certificate made with openssl in the work folder) and
`keepalive_requests 100`, so every connection ends with a GOAWAY after 100
requests, as CDNs rotate theirs; a third server block adds
`http2_max_concurrent_streams 8`. haul (--cacert, --retries 0) and curl
(--cacert --http2) only; a run with any file missing counts as failed.

The stdout scenario writes the small corpus to each tool's stdout (a file on
tmpfs, hashed after the run) and compares haul -o - with haul's own to-disk run.

The small, medium and large scenarios also measure their limit: the HTTP
ceiling (wrk cycling over their URLs) and the file-creation floor (a small C
program, plain and with .part + rename), and report haul's ratios to them.
The capped split scenario measures its own: curl fetching the same ranges
in parallel, the file's size known ahead (no first answer, no reassembly).
Where nginx serves, each run's row also has the nginx workers' CPU time
(from /proc).

See BENCHMARKS.md at the repository root for the methodology.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import os
import platform
import random
import re
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
VENV = BENCH_DIR / ".venv"
RESULTS_DIR = BENCH_DIR / "results"
TESTSERVER = BENCH_DIR / "servers" / "testserver.py"
PY_PEER = BENCH_DIR / "peers" / "aiohttp_fetch.py"

KiB = 1024
MiB = 1024 * 1024
SEED = 20240601
SAMPLE = 20  # files hashed per verification (first and last included)

TOOLS = ["haul", "curl", "aria2c", "wget2", "python"]
BASE = "haul-base"  # --haul-baseline: a second haul build, run exactly like haul
TTY = "haul-tty"  # opt-in: haul drawing its bars in a pseudo-terminal (script(1))
AUTO = "haul-auto"  # split scenarios only: the same haul binary with --split auto
DISK = "haul-disk"  # stdout scenario only: haul's own to-disk run of the same files
HAULS = ("haul", AUTO, BASE, TTY, DISK)  # the haul binaries' rows (the rest are peers)
CURL_SEQ = "curl-seq"  # stdout scenario: curl one transfer at a time (ordered)
CURL_XARGS = "curl-xargs"  # stdout scenario: xargs -P J starting curls (unordered)
# stdout scenario: the rows each selected tool brings. aria2c and the aiohttp
# script cannot write a body to stdout; haul-auto and haul-tty do not apply.
STDOUT_ROWS = {"haul": ("haul", DISK), BASE: (BASE,), "curl": ("curl", CURL_SEQ, CURL_XARGS),
               "wget2": ("wget2",)}
UNORDERED = ("curl", CURL_XARGS, "wget2")  # stdout scenario: bodies interleave, bytes counted only
STREAM = "stdout.bin"  # stdout scenario: the file on tmpfs that the tool's stdout goes to
SPLIT = 8  # split scenarios: connections for haul --split and the peers that split
CAP_MIB = 64  # split: nginx limit_rate per connection, MiB/s (location /capped/)


# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    kind: str  # "bulk", "split", "stdout", "latency", "flaky", "memory"
    count: int
    size: int  # bytes per file (bulk); 1 KiB synthetic bodies otherwise
    jobs: int
    unit: str  # "files/s" or "MiB/s"
    what: str
    base: int = 0  # memory: the short list
    real: int = 0  # memory: URLs in the big real run
    corpus: str = ""  # bulk/split: the corpus set (default: the scenario's name)
    cap: int = 0  # split: per-connection cap in MiB/s (served from /capped/), 0: none
    split: str | None = None  # split: haul's --split value (None: one connection)
    peers: bool = True  # split: peers run by default (else only when named in --tools)
    # h2: the (jobs, http2_max_concurrent_streams) rows, 0 streams: nginx's default (128)
    rows: tuple[tuple[int, int], ...] = ()
    # (numerator tool, denominator tool, title, medians): ratio lines after the table
    compare: tuple[tuple[str, str, str, tuple[str, ...]], ...] = ()
    limit: bool = False  # bulk: also measure the scenario's limit (see Bench.limits)
    wrk_seconds: int = 0  # the limit's wrk runs: -d (0: WRK_SECONDS)
    wrk_threads: int = 1  # the limit's wrk runs: -t


def scenarios(quick: bool, memory_real: int | None) -> dict[str, Scenario]:
    q = 10 if quick else 1
    s = [
        Scenario("small", "bulk", 10_000 // q, 16 * KiB, 64, "files/s",
                 "many small files: per-request overhead", limit=True),
        Scenario("medium", "bulk", 300 // q, 1 * MiB, 16, "MiB/s",
                 "medium files: mixed request and streaming cost", limit=True),
        # wrk counts only the requests that end within -d: 10 s keeps the one
        # cut off per connection under 5% of the large files' count. Two wrk
        # threads, as a client may read the two bodies on two cores.
        Scenario("large", "bulk", 2, 50 * MiB if quick else 512 * MiB, 2,
                 "MiB/s", "two large files: raw streaming throughput", limit=True,
                 wrk_seconds=0 if quick else 10, wrk_threads=2),
        Scenario("split", "split", 1, 64 * MiB if quick else 512 * MiB, 16, "MiB/s",
                 "one large file over several connections, against a per-connection cap",
                 corpus="split", cap=CAP_MIB, split=str(SPLIT),
                 compare=(("haul", "aria2c", f"haul --split {SPLIT} vs aria2c", ("wall", "cpu")),
                          (AUTO, "haul", f"haul --split auto vs haul --split {SPLIT}", ("wall",)))),
        Scenario("split-uncapped", "split", 1, 64 * MiB if quick else 512 * MiB, 16, "MiB/s",
                 "the same file with no per-connection cap: --split auto vs one connection",
                 corpus="split", peers=False,
                 compare=((AUTO, "haul", "haul --split auto vs one connection", ("wall", "cpu")),)),
        Scenario("stdout", "stdout", 10_000 // q, 16 * KiB, 64, "files/s",
                 "the small files written to stdout, whole and in input order (`-o -`)",
                 corpus="small",
                 compare=(("haul", DISK, "haul -o - vs haul to disk", ("wall", "cpu", "rss_mib")),)),
        Scenario("latency", "latency", 2_000 // q, 1 * KiB, 100, "files/s",
                 "each response delayed 100 ms: concurrency and scheduling"),
        Scenario("flaky", "flaky", 1_000 // q, 1 * KiB, 16, "files/s",
                 "every fifth URL answers 503 once: retries"),
        Scenario("h2", "h2", 2_000 // q, 16 * KiB, 512, "files/s",
                 "HTTP/2 over TLS, nginx ending each connection with a GOAWAY after 100 requests "
                 "(`keepalive_requests 100`), `--retries 0`", rows=((512, 0), (64, 0), (64, 8))),
        Scenario("memory", "memory", 1_000_000 // q, 1 * KiB, 64, "",
                 "peak RSS of haul vs list length", base=10_000 // q,
                 real=memory_real or 1_000_000 // q),
    ]
    return {x.name: x for x in s}


# --------------------------------------------------------------------------
# Process bookkeeping and cleanup
# --------------------------------------------------------------------------

SERVERS: list[subprocess.Popen] = []
CURRENT: dict[str, int | None] = {"pid": None, "pgid": None}


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_servers() -> None:
    pid = CURRENT.get("pid")
    if pid:
        kill_group(CURRENT["pgid"] or pid)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        CURRENT["pid"] = None
    for p in SERVERS:
        if p.poll() is None:
            kill_group(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    for p in SERVERS:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_group(p.pid, signal.SIGKILL)
            p.wait()
    SERVERS.clear()


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    for k in list(env):
        if k.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "rust_log"):
            del env[k]
    env["NO_COLOR"] = "1"
    env["LC_ALL"] = "C"
    return env


def log(msg: str = "") -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------
# Machine description and tool discovery
# --------------------------------------------------------------------------


def first_line(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20, env=child_env())
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"? ({e})"
    out = (r.stdout or r.stderr).strip().splitlines()
    return out[0].strip() if out else "?"


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def mem_total() -> str:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / MiB:.1f} GiB"
    except OSError:
        pass
    return "?"


def fs_type(path: Path) -> str:
    best, fstype = "", "?"
    try:
        rp = str(path.resolve())
        for line in open("/proc/mounts"):
            parts = line.split()
            mnt = parts[1]
            if (rp == mnt or rp.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, fstype = mnt, parts[2]
    except OSError:
        pass
    return fstype


def venv_python() -> Path:
    return VENV / "bin" / "python"


def venv_has_aiohttp() -> bool:
    py = venv_python()
    if not py.exists():
        return False
    r = subprocess.run([str(py), "-c", "import aiohttp"], capture_output=True)
    return r.returncode == 0


def ensure_venv(allow_pip: bool) -> tuple[bool, str]:
    if venv_has_aiohttp():
        return True, ""
    if not allow_pip:
        return False, f"{VENV} has no aiohttp (run benches/setup.sh)"
    log(f"# creating {VENV.relative_to(REPO)} and installing aiohttp with pip ...")
    try:
        if not venv_python().exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
        subprocess.run([str(venv_python()), "-m", "pip", "install", "-q", "aiohttp"],
                       check=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as e:
        return False, f"could not install aiohttp into {VENV}: {e}"
    return venv_has_aiohttp(), ""


def build_haul() -> Path:
    log("# building haul: cargo build --release --locked")
    subprocess.run(["cargo", "build", "--release", "--locked"], cwd=REPO, check=True)
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                          cwd=REPO, check=True, capture_output=True, text=True)
    target = Path(json.loads(meta.stdout)["target_directory"])
    return target / "release" / "haul"


# --------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------

POOL_SIZE = 8 * MiB
CHUNK = 1 * MiB


class Corpus:
    """Pseudo-random files made from a seeded pool (fast, reproducible)."""

    def __init__(self, root: Path):
        self.root = root
        self.pool = random.Random(SEED).randbytes(POOL_SIZE + CHUNK)
        self.files: dict[str, dict[str, tuple[int, str]]] = {}  # scenario -> name -> (size, sha)

    def _chunk(self, key: str, k: int, n: int) -> bytes:
        hdr = hashlib.sha256(f"{key}#{k}".encode()).digest()
        off = int.from_bytes(hdr[:4], "little") % POOL_SIZE
        return hdr + self.pool[off: off + n - len(hdr)] if n > len(hdr) else hdr[:n]

    def make_file(self, path: Path, key: str, size: int) -> str:
        h = hashlib.sha256()
        with open(path, "wb") as f:
            k, left = 0, size
            while left:
                n = min(CHUNK, left)
                b = self._chunk(key, k, n)
                f.write(b)
                h.update(b)
                left -= n
                k += 1
        return h.hexdigest()

    def make_set(self, name: str, count: int, size: int) -> dict[str, tuple[int, str]]:
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        width = len(str(count))
        files = {}
        for i in range(1, count + 1):
            fname = f"f{i:0{width}d}.bin"
            files[fname] = (size, self.make_file(d / fname, f"{name}/{fname}", size))
        self.files[name] = files
        return files


def synth_body(n: int) -> bytes:
    """Same as servers/testserver.py: the 1 KiB body of /delay/N and /flaky/N."""
    return hashlib.sha256(b"haul-bench-%d" % n).digest() * 32


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)


def nginx_conf(nginx: str, prefix: Path, workers: str, what: str, http: str) -> str:
    """An nginx.conf under prefix: the settings every benchmark server shares, then
    `http`, the http block's own directives and servers."""
    built = subprocess.run([nginx, "-V"], capture_output=True, text=True).stderr
    temps = [f"client_body_temp_path {prefix}/client_body;"]
    for mod in ("proxy", "fastcgi", "uwsgi", "scgi"):
        if f"--without-http_{mod}_module" not in built:
            temps.append(f"{mod}_temp_path {prefix}/{mod};")
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""# generated by benches/bench.py{what}
{user}
worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_rlimit_nofile 65536;
events {{ worker_connections 4096; }}
http {{
    types {{ }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nodelay on;
    access_log off;
    keepalive_timeout 300s;
    {' '.join(temps)}
{http}
}}
"""


def run_nginx(nginx: str, prefix: Path, conf: str, ports: list[int], what: str) -> bool:
    """Starts nginx with conf and waits for every port; False (said, and nginx
    stopped) when it does not come up."""
    (prefix / "nginx.conf").write_text(conf)
    cmd = [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=open(prefix / "stderr.log", "wb"), start_new_session=True)
    SERVERS.append(p)
    if all(wait_port(port, p) for port in ports):
        return True
    err = (prefix / "stderr.log").read_text(errors="replace") + (
        (prefix / "error.log").read_text(errors="replace") if (prefix / "error.log").exists() else "")
    log(f"# {what} did not start: {err.strip()[-500:]}")
    kill_group(p.pid, signal.SIGTERM)
    p.wait()
    SERVERS.remove(p)
    return False


def start_nginx(work: Path, corpus: Path, workers: str) -> tuple[int, str] | None:
    nginx = find_nginx()
    if not nginx:
        return None
    prefix = work / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = nginx_conf(nginx, prefix, workers, "", f"""    tcp_nopush on;
    keepalive_requests 100000000;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {corpus};
        location /m/ {{ rewrite ^/m/.*$ /one.bin break; }}
        location /capped/ {{ alias {corpus}/; limit_rate {CAP_MIB}m; }}
    }}""")
    if not run_nginx(nginx, prefix, conf, [port], "nginx"):
        return None
    ver = first_line([nginx, "-v"])
    return port, f"{ver} (worker_processes {workers}, sendfile on, access_log off)"


H2_KEEPALIVE = 100  # h2: nginx keepalive_requests (a GOAWAY after that many per connection)


def start_nginx_h2(work: Path, corpus: Path, workers: str) -> tuple[dict[int, int], str, Path] | None:
    """h2: nginx over TLS with HTTP/2 and keepalive_requests H2_KEEPALIVE, one port per
    http2_max_concurrent_streams value (0: nginx's default); a self-signed certificate
    for 127.0.0.1 made with openssl. Returns ({streams: port}, description, cert)."""
    nginx = find_nginx()
    openssl = shutil.which("openssl")
    if not nginx or not openssl:
        return None
    prefix = work / "nginx-h2"
    prefix.mkdir(parents=True, exist_ok=True)
    cert, key = prefix / "cert.pem", prefix / "key.pem"
    made = subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                           "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                           "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True, text=True)
    if made.returncode != 0:
        log(f"# openssl could not make a certificate: {made.stderr.strip()[-300:]}")
        return None
    ports = {0: free_port(), 8: free_port()}
    servers = f"    keepalive_requests {H2_KEEPALIVE};"
    for streams, port in ports.items():
        limit = f"http2_max_concurrent_streams {streams};" if streams else ""
        servers += f"""
    server {{
        listen 127.0.0.1:{port} ssl http2 backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        {limit}
        root {corpus};
    }}"""
    conf = nginx_conf(nginx, prefix, workers, " (h2)", servers)
    if not run_nginx(nginx, prefix, conf, list(ports.values()), "nginx (h2)"):
        return None
    ver = first_line([nginx, "-v"])
    return ports, (f"{ver} over TLS with HTTP/2 (worker_processes {workers}, "
                   f"keepalive_requests {H2_KEEPALIVE}, access_log off)"), cert


def build_bench_server() -> Path | None:
    """The Rust test server (examples/bench_server.rs) for latency/flaky, so
    the server is not the bottleneck; None when it cannot be built."""
    log("# building the test server: cargo build --release --locked --example bench_server")
    done = subprocess.run(["cargo", "build", "--release", "--locked", "--example", "bench_server"],
                          cwd=REPO)
    if done.returncode != 0:
        return None
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                          cwd=REPO, check=True, capture_output=True, text=True)
    return Path(json.loads(meta.stdout)["target_directory"]) / "release" / "examples" / "bench_server"


def start_testserver(python: str, root: Path | None, work: Path,
                     rust_server: Path | None = None) -> tuple[int, str]:
    if rust_server is not None and root is None:
        cmd = [str(rust_server), "--delay-ms", "100"]
    else:
        cmd = [python, str(TESTSERVER), "--delay-ms", "100"]
    if root:
        cmd += ["--root", str(root)]
    errlog = open(work / f"testserver-{len(SERVERS)}.log", "wb")
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errlog,
                         start_new_session=True)
    SERVERS.append(p)
    deadline = time.monotonic() + 30
    line = b""
    while time.monotonic() < deadline and p.poll() is None:
        r, _, _ = select.select([p.stdout], [], [], 0.5)
        if r:
            line = p.stdout.readline()
            break
    m = re.match(rb"LISTENING (\d+) (\w+)", line)
    if not m:
        raise RuntimeError(f"test server did not start (see {errlog.name})")
    return int(m.group(1)), m.group(2).decode()


def http_json(port: int, path: str) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


def group_cpu(master: int) -> float | None:
    """user + sys seconds of master's children (nginx's workers), from
    /proc/PID/stat (utime, stime: fields 14 and 15, in clock ticks); None
    when /proc cannot tell. Read before and after a run: the difference is
    what serving that run cost."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, found = 0, False
    try:
        pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                rest = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone, or not ours to read
        if int(rest[1]) == master:  # rest[0] is field 3 (state), rest[1] field 4 (ppid)
            total += int(rest[11]) + int(rest[12])
            found = True
    return total / ticks if found else None


# The file-creation floor of a bulk scenario (see Bench.limits): one thread
# creating COUNT files of SIZE bytes in DIR with the corpus's names, relative
# to a descriptor of DIR as haul does. "plain": open (O_TRUNC), write, close;
# "part": NAME.part (O_EXCL), write, close, renameat to NAME, the steps a
# download that never leaves a partial file under its final name must take.
FLOOR_C = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 5 || (strcmp(argv[4], "plain") && strcmp(argv[4], "part"))) {
        fprintf(stderr, "usage: floor DIR COUNT SIZE plain|part\n");
        return 2;
    }
    long count = atol(argv[2]), size = atol(argv[3]);
    int part = !strcmp(argv[4], "part");
    int width = snprintf(NULL, 0, "%ld", count);
    int dir = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char *buf = malloc(size > 0 ? size : 1);
    if (dir < 0 || !buf) { perror(argv[1]); return 1; }
    memset(buf, 0x5a, size);
    char name[64], tmp[80];
    for (long i = 1; i <= count; i++) {
        snprintf(name, sizeof name, "f%0*ld.bin", width, i);
        snprintf(tmp, sizeof tmp, "%s.part", name);
        const char *path = part ? tmp : name;
        int fd = openat(dir, path, O_WRONLY | O_CREAT | O_CLOEXEC | (part ? O_EXCL : O_TRUNC), 0644);
        if (fd < 0) { perror(path); return 1; }
        for (long off = 0; off < size;) {
            ssize_t n = write(fd, buf + off, size - off);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) { perror(path); return 1; }
            off += n;
        }
        if (close(fd)) { perror(path); return 1; }
        if (part && renameat(dir, tmp, dir, name)) { perror(name); return 1; }
    }
    return 0;
}
"""

# The HTTP ceiling (see Bench.limits): wrk cycling over a scenario's URL paths.
WRK_LUA = """local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = 0
request = function()
    i = i %% #paths + 1
    return wrk.format("GET", paths[i])
end
"""
WRK_SECONDS = 2


# --------------------------------------------------------------------------
# Running and measuring one child
# --------------------------------------------------------------------------


@dataclass
class Run:
    tool: str
    wall: float
    cpu: float
    rss_kib: int
    rc: int
    timed_out: bool
    ok: bool = False
    msg: str = ""
    requests: int | None = None
    log: str = ""
    user: float = 0.0
    sys: float = 0.0
    server_cpu: float | None = None  # nginx workers' user + sys during the run (nginx only)


# Peak RSS: Linux records, at exec, the high-water RSS of the mm being
# replaced into the process's ru_maxrss. A child forked (or vforked) from this
# harness therefore reports max(harness RSS, tool RSS). To get the tool's own
# figure, the tool is started by a small /bin/sh that backgrounds it and exits
# at once; this harness is a child subreaper (prctl), so the orphaned tool is
# reparented to it and its own rusage comes back from wait4. (That rusage
# also covers the children the tool itself waited for: xargs's curls.)
LAUNCH = 'log=$1; shift; "$@" </dev/null >"$log" 2>&1 & echo $!'
# stdout to a file of its own ($2, e.g. /dev/null), stderr to the log. The
# tool's stdout is that file itself, no pipe, so no other process shares its
# measurement or slows its writes.
LAUNCH_TO = 'log=$1; out=$2; shift 2; "$@" </dev/null >"$out" 2>"$log" & echo $!'
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


SUBREAPER = {"on": False}


def measure(tool: str, cmd: list[str], log_path: Path, timeout: float,
            stdout: Path | str | None = None, env: dict[str, str] | None = None) -> Run:
    """Run cmd; wall from perf_counter, CPU (user+sys) and peak RSS from its own wait4.
    stdout: where the tool's stdout goes (default: the log, with stderr); env: added
    to child_env()."""
    timed_out = threading.Event()
    env = child_env() | (env or {})
    t0 = time.perf_counter()
    if SUBREAPER["on"]:
        script, to = (LAUNCH, []) if stdout is None else (LAUNCH_TO, [str(stdout)])
        launcher = subprocess.Popen(["/bin/sh", "-c", script, "sh", str(log_path), *to, *cmd],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    env=env, start_new_session=True)
        line = launcher.stdout.readline()
        launcher.wait()
        launcher.stdout.close()
        pid, pgid = int(line), launcher.pid
    else:  # RSS may then include the harness's own (see above)
        with open(log_path, "wb") as lg, open(stdout or os.devnull, "wb") as out:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lg if stdout is None else out,
                                 stderr=lg, env=env, start_new_session=True)
        pid = pgid = p.pid
        p.returncode = 0  # reaped below with wait4; keep Popen from waiting
    CURRENT["pid"], CURRENT["pgid"] = pid, pgid

    def expire():
        timed_out.set()
        kill_group(pgid)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, expire)
    timer.start()
    try:
        _, status, ru = os.wait4(pid, 0)
    finally:
        timer.cancel()
    wall = time.perf_counter() - t0
    CURRENT["pid"] = None
    kill_group(pgid)  # leftovers of the group, if any
    return Run(tool, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss,
               os.waitstatus_to_exitcode(status), timed_out.is_set(), log=str(log_path),
               user=ru.ru_utime, sys=ru.ru_stime)


def reset_dir(d: Path) -> None:
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)


def tail(path: str, n: int = 3) -> str:
    try:
        lines = Path(path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(x.strip() for x in lines[-n:])[:300]


def sha256_file(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while b := f.read(MiB):
            h.update(b)
    return h.hexdigest()


def scan(out: Path) -> dict[str, int]:
    found = {}
    stack = [out]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                elif e.is_file(follow_symlinks=False):
                    found[os.path.relpath(e.path, out)] = e.stat(follow_symlinks=False).st_size
                else:
                    found[os.path.relpath(e.path, out)] = -1
    return found


def sample_idx(n: int, k: int = SAMPLE) -> list[int]:
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def verify(out: Path, expected: dict[str, tuple[int, str]] | None, count: int, total: int,
           sample: list[tuple[str, str]], full: bool = False) -> tuple[bool, str]:
    """Count, total bytes, names (when expected is given), sha256 of a sample (or all)."""
    found = scan(out)
    if len(found) != count:
        extra = sorted(set(found) - set(expected))[:3] if expected else []
        return False, f"{len(found)} files, expected {count}" + (f" (extra: {extra})" if extra else "")
    got = sum(found.values())
    if got != total:
        return False, f"{got} bytes, expected {total}"
    if expected is not None:
        missing = [n for n in expected if n not in found]
        if missing:
            return False, f"{len(missing)} expected files missing (e.g. {missing[0]})"
        checks = list(expected.items()) if full else [
            (n, expected[n]) for n in (sorted(expected)[i] for i in sample_idx(len(expected)))]
        checks = [(n, sha) for n, (_, sha) in checks]
    else:
        checks = sample
    bad = [n for n, sha in checks if sha256_file(out / n) != sha]
    if bad:
        return False, f"{len(bad)}/{len(checks)} checked files have a wrong sha256 (e.g. {bad[0]})"
    return True, f"{count} files, {total} bytes, {len(checks)} sha256 ok"


def verify_stream(out: Path, total: int, sha: str | None, spool: bool) -> tuple[bool, str]:
    """stdout scenario: out holds the stream (STREAM) and tmp/ (the run's $TMPDIR),
    nothing else; with spool (haul), tmp/ is left empty (haul's folder for files
    waiting their turn is gone; wget2 leaves lock files there). The stream has
    total bytes and, unless sha is None (a tool whose output is unordered), the
    sha256 of the corpus files concatenated in input order."""
    extra = sorted(set(os.listdir(out)) - {STREAM, "tmp"})
    if extra:
        return False, f"files besides stdout: {extra[:3]}"
    left = sorted(os.listdir(out / "tmp")) if spool else []
    if left:
        return False, f"$TMPDIR not left empty: {left[:3]}"
    size = (out / STREAM).stat().st_size
    if size != total:
        return False, f"stdout has {size} bytes, expected {total}"
    if sha is None:
        return True, f"stdout has {total} bytes (unordered: not hashed)"
    if sha256_file(out / STREAM) != sha:
        return False, f"stdout has {total} bytes but the wrong sha256 (order or content)"
    return True, f"stdout has {total} bytes, sha256 of the ordered concatenation ok"


# --------------------------------------------------------------------------
# Tool command lines
# --------------------------------------------------------------------------


@dataclass
class Inputs:
    urls: Path  # one URL per line (haul, aria2c, wget2, python)
    curl_cfg: Path  # url = / output = pairs
    jobs: int
    retry: bool
    split: int = 0  # split scenarios: connections for the peers that split (aria2c)
    chunk: str = ""  # split scenarios: wget2 --chunk-size (the file / split)
    haul_split: str | None = None  # haul's (and haul-base's, haul-tty's) --split
    stdout: bool = False  # stdout scenario: every body to stdout (urls.cfg has no output =)
    count: int = 0  # stdout scenario: URLs in the list (xargs shares them among J curls)
    cacert: str = ""  # h2: the server's self-signed certificate (haul --cacert, curl --cacert --http2)
    no_retry: bool = False  # h2: haul --retries 0 (curl does not retry unless asked)


def tool_cmd(tool: str, exe: str, inp: Inputs, out: Path) -> list[str]:
    j = str(inp.jobs)
    if tool in HAULS:
        # stdout: -o - instead of -d; haul-disk keeps -d, the small scenario's command line.
        dest = ["-o", "-"] if inp.stdout and tool != DISK else ["-d", str(out)]
        c = [exe, "-i", str(inp.urls), *dest, "-j", j]
        c += ["--progress", "bar"] if tool == TTY else ["--progress", "none", "-q"]
        c += ["--retries", "3", "--retry-wait", "1s"] if inp.retry else []
        c += ["--retries", "0"] if inp.no_retry else []
        c += ["--cacert", inp.cacert] if inp.cacert else []
        split = "auto" if tool == AUTO else inp.haul_split
        c += ["--split", split] if split else []
        # haul-tty, the display's cost: the same run with its bars drawn into
        # the pseudo-terminal that script(1) gives it (script's own CPU counts).
        return ["script", "-qec", shlex.join(c), "/dev/null"] if tool == TTY else c
    if inp.stdout:
        return stdout_peer_cmd(tool, exe, inp)
    if tool == "curl":
        # --disable (must come first): ignore ~/.curlrc. curl 7.88 draws its
        # --parallel progress meter even with -s; --no-progress-meter stops it.
        # -S keeps error lines (in the run's log).
        c = [exe, "--disable", "--parallel", "--parallel-max", j, "--parallel-immediate",
             "-s", "-S", "--no-progress-meter", "-f", "--output-dir", str(out), "--config", str(inp.curl_cfg)]
        c += ["--cacert", inp.cacert, "--http2"] if inp.cacert else []
        # 503 is a "transient error" for --retry (as are 408, 429, 500, 502, 504),
        # so --retry-all-errors is not needed.
        return c + (["--retry", "3", "--retry-delay", "1"] if inp.retry else [])
    if tool == "aria2c":
        n = str(inp.split or 1)
        c = [exe, "--no-conf", "-i", str(inp.urls), "-d", str(out), "-j", j, "-x", n, "-s", n,
             *(["-k", "1M"] if inp.split else []),  # split: min-split-size 1M
             "--console-log-level=error", "--summary-interval=0", "--allow-overwrite=true",
             "--auto-file-renaming=false", "--file-allocation=none"]
        # aria2 retries a 503 only when --retry-wait > 0.
        return c + (["--max-tries=4", "--retry-wait=1"] if inp.retry else [])
    if tool == "wget2":
        c = [exe, "--no-config", "-q", "-i", str(inp.urls), "-P", str(out), f"--max-threads={j}",
             "-nd", "--no-robots", *([f"--chunk-size={inp.chunk}"] if inp.chunk else [])]
        # --chunk-size (split scenarios): a HEAD, then the file in ranges of that size; wget2
        # 1.99.1 fetches those ranges one after another over one connection.
        # wget2 1.99 has no --retry-on-http-error: --tries covers network errors
        # only, a 503 is final (and the exit code stays 0).
        return c + (["--tries=4", "--waitretry=1"] if inp.retry else [])
    if tool == "python":
        c = [exe, str(PY_PEER), "-i", str(inp.urls), "-d", str(out), "-j", j]
        return c + (["--retries", "3", "--retry-wait", "1"] if inp.retry else [])
    raise ValueError(tool)


def stdout_peer_cmd(tool: str, exe: str, inp: Inputs) -> list[str]:
    """stdout scenario: the peers writing every body to their stdout (urls.cfg without
    output =). Only curl-seq keeps the input order; the others interleave bodies."""
    j = str(inp.jobs)
    quiet = ["-s", "-S", "--no-progress-meter", "-f"]  # as in tool_cmd
    if tool == "curl":
        # Each transfer writes its chunks as they arrive: bodies interleave.
        return [exe, "--disable", "--parallel", "--parallel-max", j, "--parallel-immediate", *quiet,
                "--config", str(inp.curl_cfg)]
    if tool == CURL_SEQ:
        # One transfer at a time on one connection: stdout in input order.
        return [exe, "--disable", *quiet, "--config", str(inp.curl_cfg)]
    if tool == CURL_XARGS:
        # J curls at once, each given an equal share of the list (one curl per URL would
        # measure 10,000 process start-ups); their writes to the shared stdout interleave.
        per = str(-(-inp.count // inp.jobs))
        return [shutil.which("xargs") or "xargs", "-P", j, "-n", per, "-d", r"\n", "-a", str(inp.urls),
                exe, "--disable", *quiet]
    if tool == "wget2":
        # -O - with several threads: each body is appended as its chunks arrive.
        return [exe, "--no-config", "-q", "-i", str(inp.urls), "-O", "-", f"--max-threads={j}",
                "--no-robots"]
    raise ValueError(tool)


def write_inputs(d: Path, urls: list[str], names: list[str], jobs: int, retry: bool,
                 **extra) -> Inputs:
    d.mkdir(parents=True, exist_ok=True)
    u = d / "urls.txt"
    u.write_text("".join(x + "\n" for x in urls))
    c = d / "urls.cfg"
    if extra.get("stdout"):  # no output =: curl writes each body to its stdout
        c.write_text("".join(f'url = "{x}"\n' for x in urls))
    else:
        c.write_text("".join(f'url = "{x}"\noutput = "{n}"\n' for x, n in zip(urls, names)))
    return Inputs(u, c, jobs, retry, **extra)


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------


def fmt(x: float | None, nd: int = 2) -> str:
    return "—" if x is None else f"{x:.{nd}f}"


def summarize(runs: list[Run]) -> dict:
    good = [r for r in runs if r.ok]
    bad = [r for r in runs if not r.ok]
    s = {"runs": len(runs), "ok_runs": len(good)}
    if good:
        s["wall"] = statistics.median(r.wall for r in good)
        s["cpu"] = statistics.median(r.cpu for r in good)
        s["rss_mib"] = statistics.median(r.rss_kib for r in good) / KiB
        served = [r.server_cpu for r in good if r.server_cpu is not None]
        if served:
            s["server_cpu"] = statistics.median(served)
    if any(r.requests is not None for r in runs):
        s["requests"] = [r.requests for r in runs]
    if not bad:
        s["status"] = "ok"
    elif not good:
        s["status"] = f"FAILED: {bad[0].msg}"
    else:
        s["status"] = f"FAILED {len(bad)}/{len(runs)} runs: {bad[0].msg}"
    s["walls"] = [round(r.wall, 3) if r.ok else None for r in runs]
    return s


def scenario_table(sc: Scenario, results: dict[str, list[Run]], total_bytes: int,
                   checked: dict[str, str] | None = None) -> str:
    """checked: per tool, how its runs were verified, shown after the status."""
    summ = {t: summarize(r) for t, r in results.items()}
    base = summ.get("haul", {}).get("wall")
    flaky = sc.kind == "flaky"
    server = any("server_cpu" in s for s in summ.values())
    hdr = ["tool", "wall median (s)", "runs (s)", "CPU s", "peak RSS (MiB)", sc.unit, "vs haul"]
    if server:
        hdr.append("server CPU s")
    if flaky:
        hdr.append("requests served")
    hdr.append("status")
    lines = ["| " + " | ".join(hdr) + " |", "|" + "|".join(["---"] * len(hdr)) + "|"]
    for tool, s in summ.items():
        w = s.get("wall")
        if w is None:
            rate = None
        elif sc.unit == "MiB/s":
            rate = total_bytes / MiB / w
        else:
            rate = sc.count / w
        ratio = f"{w / base:.2f}×" if (w is not None and base) else "—"
        walls = " / ".join("FAILED" if x is None else f"{x:.2f}" for x in s["walls"])
        row = [tool, fmt(w), walls, fmt(s.get("cpu")), fmt(s.get("rss_mib"), 1),
               fmt(rate, 0 if sc.unit == "files/s" else 1), ratio]
        if server:
            row.append(fmt(s.get("server_cpu")))
        if flaky:
            row.append(" / ".join("?" if x is None else str(x) for x in s.get("requests", [])))
        row.append(s["status"] + (f"; {checked[tool]}" if checked and tool in checked else ""))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def base_ratios(new: dict, old: dict, keys=("wall", "cpu")) -> dict[str, float | None]:
    """haul / haul-base for each median in keys (None when either side has no good run)."""
    return {k: new[k] / old[k] if new.get(k) is not None and old.get(k) else None for k in keys}


def ratio_line(title: str, ratios: dict[str, float | None]) -> str:
    names = {"wall": "wall", "cpu": "CPU", "rss_mib": "peak RSS"}
    parts = ", ".join(f"{names[k]} {'—' if v is None else f'{v:.2f}x'}" for k, v in ratios.items())
    return f"{title}: {parts}" + (" (a run failed on one side)" if None in ratios.values() else "")


def base_line(ratios: dict[str, float | None], label: str = "") -> str:
    return ratio_line(f"haul vs {BASE}{label}", ratios)


LIMIT_KEYS = (("limit_s", "the limit"), ("limit_part_s", "the limit with .part + rename"),
              ("ceiling_s", "the HTTP ceiling"), ("floor_s", "the floor"),
              ("floor_part_s", "the floor with .part + rename"))


def limit_ratios(limit: dict, wall: float | None) -> dict[str, float | None]:
    """A tool's median wall over each of the limit's figures."""
    return {k: wall / limit[k] if wall is not None and limit.get(k) else None for k, _ in LIMIT_KEYS}


def limit_text(sc: Scenario, limit: dict, results: dict[str, list[Run]]) -> str:
    rates = limit.get("wrk_requests_per_s") or []
    ceiling = (f"{fmt(limit['ceiling_s'])} s ({sc.count:,} / {statistics.median(rates):,.0f} requests/s, "
               f"median of {len(rates)} runs of `{limit['wrk_cmd']}`)" if limit["ceiling_s"] else "not measured")
    lines = [f"Limit: HTTP ceiling {ceiling}; file-creation floor (one C thread: open, write, close) "
             f"{fmt(limit['floor_s'], 3)} s; with `.part` + rename {fmt(limit['floor_part_s'], 3)} s. "
             f"The limit is ceiling + floor: {fmt(limit['limit_s'], 3)} s "
             f"({fmt(limit['limit_part_s'], 3)} s with `.part` + rename; the slower of the two alone: "
             f"{fmt(limit['overlapped_s'], 3)} s and {fmt(limit['overlapped_part_s'], 3)} s)."]
    for tool, rs in results.items():
        if tool in HAULS:
            r = limit_ratios(limit, summarize(rs).get("wall"))
            lines.append(f"{tool} vs " + ", ".join(
                f"{what} {'—' if r[k] is None else f'{r[k]:.2f}x'}" for k, what in LIMIT_KEYS))
    return "\n\n".join(lines)


def range_ratios(ranges: dict, results: dict[str, list[Run]]) -> dict[str, float | None]:
    """Each haul build's median wall over the capped split's limit."""
    return {t: wall / ranges["limit_s"] if (wall := summarize(rs).get("wall")) else None
            for t, rs in results.items() if t in HAULS}


def range_limit_text(ranges: dict, results: dict[str, list[Run]]) -> str:
    line = (f"Limit: curl fetching the {SPLIT} ranges in parallel into a file each, the size known "
            f"ahead: {fmt(ranges['limit_s'], 3)} s (median of {len(ranges['runs'])} runs; "
            f"`{ranges['cmd']}`).")
    for tool, ratio in range_ratios(ranges, results).items():
        if ratio is not None:
            line += f" {tool} vs the limit: {ratio:.2f}x."
    return line


# --------------------------------------------------------------------------
# Scenario runners
# --------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.sections: list[str] = []
        self.json: dict = {"scenarios": {}}
        self.nginx_pid: int | None = None  # nginx's master: its workers' CPU is the server's
        self.floor_exe: Path | None = None

    def server_cpu(self) -> float | None:
        """nginx workers' user + sys seconds so far (None without nginx)."""
        return group_cpu(self.nginx_pid) if self.nginx_pid else None

    def run_tools(self, sc: Scenario, inp: Inputs, tools: dict[str, str], outroot: Path,
                  check, flaky_port: int | None = None) -> dict[str, list[Run]]:
        """check(tool, out) -> (ok, message) after each run."""
        results: dict[str, list[Run]] = {t: [] for t in tools}
        logs = self.work / "logs"
        logs.mkdir(exist_ok=True)
        width = max([7, *map(len, tools)])
        order = list(tools.items())
        for i in range(self.args.runs):
            # Each round starts with the next tool: whichever runs first in a
            # round was measured 3-7% slower (a cold page cache, CPU clocks),
            # so no tool may always go first.
            k = i % len(order)
            for tool, exe in order[k:] + order[:k]:
                out = outroot / sc.name / tool
                reset_dir(out)
                if flaky_port:
                    http_json(flaky_port, "/reset")
                cmd = tool_cmd(tool, exe, inp, out)
                sink, env = None, None
                if inp.stdout and tool != DISK:
                    # stdout to a file on tmpfs, hashed after the run (see verify_stream);
                    # $TMPDIR (haul's spool) on tmpfs too, checked empty after haul's runs.
                    sink, env = out / STREAM, {"TMPDIR": str(out / "tmp")}
                    (out / "tmp").mkdir()
                cpu0 = self.server_cpu()
                r = measure(tool, cmd, logs / f"{sc.name}-{tool}-{i + 1}.log", self.args.timeout,
                            stdout=sink, env=env)
                cpu1 = self.server_cpu()
                if cpu0 is not None and cpu1 is not None:
                    r.server_cpu = cpu1 - cpu0
                if flaky_port:
                    r.requests = http_json(flaky_port, "/stats")["flaky_requests"]
                if r.timed_out:
                    r.msg = f"timed out after {self.args.timeout:.0f}s"
                else:
                    vok, vmsg = check(tool, out)
                    if r.rc != 0 and sc.kind != "flaky":
                        r.msg = f"exit {r.rc}: {tail(r.log) or vmsg}"
                    elif not vok:
                        r.msg = vmsg + (f" (exit {r.rc}: {tail(r.log, 1)})" if r.rc else f" (exit 0)")
                        if r.requests is not None and r.requests <= sc.count:
                            r.msg += f"; no retry: {r.requests} requests for {sc.count} URLs"
                    else:
                        r.ok = True
                        r.msg = vmsg + (f" (exit {r.rc})" if r.rc else "")
                results[tool].append(r)
                extra = f"  requests {r.requests}" if r.requests is not None else ""
                if r.server_cpu is not None:
                    extra += f"  server cpu {r.server_cpu:.2f} s"
                log(f"  {sc.name:8} run {i + 1}/{self.args.runs}  {tool:{width}} {r.wall:8.3f} s  "
                    f"cpu {r.cpu:6.2f} s ({r.user:.2f} usr {r.sys:.2f} sys)  rss {r.rss_kib / KiB:7.1f} MiB{extra}  "
                    f"{'ok' if r.ok else 'FAILED'}: {r.msg}")
                if self.args.verbose:
                    log("    $ " + " ".join(cmd))
                shutil.rmtree(out, ignore_errors=True)
        return results

    def finish(self, sc: Scenario, results: dict[str, list[Run]], total_bytes: int, note: str,
               checked: dict[str, str] | None = None, compare_curl: bool = False,
               limit: dict | None = None, ranges: dict | None = None) -> None:
        title = f"### {sc.name}: {sc.count:,} × {human(sc.size)}, -j {sc.jobs}"
        table = scenario_table(sc, results, total_bytes, checked)
        text = f"{title}\n\n{sc.what}. {note}\n\n{table}\n"
        if limit is not None:
            text += "\n" + limit_text(sc, limit, results) + "\n"
        vs = None
        if "haul" in results and BASE in results:
            vs = base_ratios(summarize(results["haul"]), summarize(results[BASE]))
            text += f"\n{base_line(vs)}\n"
        if "haul" in results and TTY in results:
            tty = base_ratios(summarize(results[TTY]), summarize(results["haul"]))
            text += (f"\n{TTY} vs haul (the display's cost): wall {fmt(tty['wall'])}x, "
                     f"CPU {fmt(tty['cpu'])}x\n")
        ratios = {}
        compare = sc.compare + ((("haul", "curl", "haul vs curl", ("wall", "cpu")),) if compare_curl else ())
        for num, den, what, keys in compare:
            if num in results and den in results:
                ratios[what] = base_ratios(summarize(results[num]), summarize(results[den]), keys)
                text += f"\n{ratio_line(what, ratios[what])}\n"
        log("\n" + text)
        self.sections.append(text)
        self.json["scenarios"][sc.name] = {
            "count": sc.count, "size": sc.size, "jobs": sc.jobs, "note": note,
            "tools": {t: {"summary": summarize(rs),
                          "runs": [{k: v for k, v in r.__dict__.items() if k != "log"} for r in rs]}
                      for t, rs in results.items()},
        }
        if vs is not None:
            self.json["scenarios"][sc.name]["haul_vs_base"] = vs
        if ratios:
            self.json["scenarios"][sc.name]["ratios"] = ratios
        if ranges is not None:
            self.json["scenarios"][sc.name]["limit"] = ranges | {"vs_limit": range_ratios(ranges, results)}
        if limit is not None:
            self.json["scenarios"][sc.name]["limit"] = limit | {
                "vs_limit": {t: limit_ratios(limit, summarize(rs).get("wall"))
                             for t, rs in results.items() if t in HAULS}}

    # -- bulk -------------------------------------------------------------

    def bulk(self, sc: Scenario, tools: dict[str, str]) -> None:
        """bulk and split: the files of sc's corpus set from the static server."""
        cset = sc.corpus or sc.name
        files = self.corpus.files[cset]
        names = sorted(files)
        loc = "capped/" if sc.cap else ""
        urls = [f"http://127.0.0.1:{self.bulk_port}/{loc}{cset}/{n}" for n in names]
        split = {}
        if sc.kind == "split":
            split = dict(split=SPLIT, chunk=f"{max(1, sc.size // SPLIT // MiB)}M", haul_split=sc.split)
        inp = write_inputs(self.work / "lists" / sc.name, urls, names, sc.jobs, False, **split)
        total = sum(s for s, _ in files.values())
        results = self.run_tools(sc, inp, tools, self.outroot,
                                 lambda tool, out: verify(out, files, len(files), total, []))
        limit = self.limits(sc, urls, total) if sc.limit else None
        ranges = None
        note = f"Server: {self.bulk_server_name}"
        if sc.kind == "split" and sc.cap:
            note += (f", location /{loc} with `limit_rate {sc.cap}m`: each connection is capped at "
                     f"{sc.cap} MiB/s. Ideal wall time {total / MiB / (SPLIT * sc.cap):.1f} s "
                     f"({human(total)} at {SPLIT} × {sc.cap} MiB/s; one connection: "
                     f"{total / MiB / sc.cap:.1f} s).")
            ranges = self.range_limit(sc, urls[0], files[names[0]])
            if ranges is not None:
                note += "\n\n" + range_limit_text(ranges, results)
        elif sc.kind == "split":
            note += (", the normal location: no per-connection cap, so there is no ideal time from the "
                     "server; one connection is enough, and `--split auto` should be no slower.")
        else:
            note += "."
        self.finish(sc, results, total, note, limit=limit, ranges=ranges)

    # -- the limit of the capped split scenario ----------------------------------

    def range_limit(self, sc: Scenario, url: str, file: tuple[int, str]) -> dict | None:
        """What no client splitting the file can beat against this server: curl
        fetching the SPLIT ranges in parallel (one connection each) into a file
        per range, the size known ahead (no first answer, no reassembly, no
        resume note); the median of --runs runs, the ranges checked against the
        file's SHA-256."""
        curl = shutil.which("curl")
        if not curl:
            log("# split limit not measured: curl not installed")
            return None
        size, sha = file
        step = -(-size // SPLIT)
        cfg = self.work / "lists" / sc.name / "ranges.cfg"
        d = self.outroot / sc.name / "ranges"
        # `next`: a range applies to its own URL only (and so would --output-dir).
        cfg.write_text("next\n".join(f'url = "{url}"\nrange = "{a}-{min(a + step, size) - 1}"\n'
                                      f'output = "{d}/r{i}"\n' for i, a in enumerate(range(0, size, step))))
        cmd = [curl, "--disable", "--parallel", "--parallel-max", str(SPLIT), "--parallel-immediate",
               "-s", "-S", "--no-progress-meter", "-f", "--config", str(cfg)]
        walls = []
        for i in range(self.args.runs):
            reset_dir(d)
            r = measure("curl-ranges", cmd,
                        self.work / "logs" / f"{sc.name}-ranges-{i + 1}.log", self.args.timeout)
            h = hashlib.sha256()
            for k in range(-(-size // step)):
                with open(d / f"r{k}", "rb") as f:
                    while chunk := f.read(4 * MiB):
                        h.update(chunk)
            ok = r.rc == 0 and not r.timed_out and h.hexdigest() == sha
            why = (f"exit {r.rc}: {tail(r.log)}" if r.rc or r.timed_out
                   else "the ranges do not make the file's SHA-256")
            log(f"  {sc.name:8} run {i + 1}/{self.args.runs}  curl, {SPLIT} ranges {r.wall:8.3f} s  "
                f"{'ok' if ok else 'FAILED: ' + why}")
            if ok:
                walls.append(r.wall)
            shutil.rmtree(d, ignore_errors=True)
        if not walls:
            return None
        return {"limit_s": statistics.median(walls), "runs": walls,
                "cmd": f"curl --parallel --parallel-max {SPLIT} --config ranges.cfg (url, range, output per range)"}

    # -- the limit of a bulk scenario -------------------------------------------

    def limits(self, sc: Scenario, urls: list[str], total: int) -> dict:
        """What no client can beat on this machine, measured after the tools'
        rounds: the HTTP ceiling (wrk, a load generator that keeps nothing,
        -c jobs, cycling over the scenario's URLs: count / its requests per
        second) and the file-creation floor (FLOOR_C: one thread creating the
        scenario's files, plain and with .part + rename; the median of --runs
        runs of each, on the file system of the tools' output). The limit is
        ceiling + floor: the client's share of the HTTP work and the file
        work, done one after the other (on 2 cores the server has the other
        core); the slower of the two ("overlapped") is a bound no client on
        this machine can reach, given for reference."""
        out: dict = {"ceiling_s": None, "floor_s": None, "floor_part_s": None}
        logs = self.work / "logs"
        if self.floor_exe is None:
            src = self.work / "floor.c"
            src.write_text(FLOOR_C)
            exe = self.work / "floor"
            cc = shutil.which("cc") or shutil.which("gcc")
            done = subprocess.run([cc, "-O2", "-o", str(exe), str(src)], capture_output=True,
                                  text=True) if cc else None
            if done is None or done.returncode != 0:
                log(f"# floor not measured: no C compiler or it failed: {done.stderr[-300:] if done else ''}")
            else:
                self.floor_exe = exe
        if self.floor_exe is not None:
            runs: dict[str, list[float]] = {"plain": [], "part": []}
            for i in range(self.args.runs):
                for mode in (("plain", "part") if i % 2 == 0 else ("part", "plain")):
                    d = self.outroot / sc.name / f"floor-{mode}"
                    reset_dir(d)
                    r = measure(f"floor-{mode}", [str(self.floor_exe), str(d), str(sc.count), str(sc.size), mode],
                                logs / f"{sc.name}-floor-{mode}-{i + 1}.log", self.args.timeout)
                    ok, msg = (False, f"exit {r.rc}: {tail(r.log)}") if r.rc else verify(d, None, sc.count, total, [])
                    log(f"  {sc.name:8} run {i + 1}/{self.args.runs}  floor-{mode:5} {r.wall:8.3f} s  "
                        f"cpu {r.cpu:6.2f} s ({r.user:.2f} usr {r.sys:.2f} sys)  {'ok' if ok else 'FAILED'}: {msg}")
                    if ok:
                        runs[mode].append(r.wall)
                    shutil.rmtree(d, ignore_errors=True)
            out["floor_runs"], out["floor_part_runs"] = runs["plain"], runs["part"]
            out["floor_s"] = statistics.median(runs["plain"]) if runs["plain"] else None
            out["floor_part_s"] = statistics.median(runs["part"]) if runs["part"] else None
        wrk = shutil.which("wrk")
        if wrk:
            lua = self.work / "lists" / sc.name / "wrk.lua"
            paths = lua.with_name("paths.txt")
            paths.write_text("".join(f"/{u.split('/', 3)[3]}\n" for u in urls))  # the URLs' paths
            lua.write_text(WRK_LUA % paths)
            base = urls[0].split("/", 3)
            secs = sc.wrk_seconds or WRK_SECONDS
            t = sc.wrk_threads
            cmd = [wrk, f"-t{t}", f"-c{sc.jobs}", f"-d{secs}s", "-s", str(lua), f"{base[0]}//{base[2]}/"]
            rates = []
            for i in range(min(self.args.runs, 3)):
                done = subprocess.run(cmd, capture_output=True, text=True, env=child_env())
                m = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
                bad = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", done.stdout)
                ok = done.returncode == 0 and m and not bad
                log(f"  {sc.name:8} run {i + 1}  wrk -t{t} -c{sc.jobs} -d{secs}s  "
                    f"{m.group(1) if m else '?'} requests/s  {'ok' if ok else 'FAILED: ' + done.stdout[-200:]}")
                if ok:
                    rates.append(float(m.group(1)))
            out["wrk_cmd"] = f"wrk -t{t} -c{sc.jobs} -d{secs}s -s wrk.lua URL (cycling over the {sc.count:,} paths)"
            out["wrk_requests_per_s"] = rates
            if rates:
                out["ceiling_s"] = sc.count / statistics.median(rates)
        else:
            log("# HTTP ceiling not measured: wrk not installed")
        for key, floor in (("limit_s", "floor_s"), ("limit_part_s", "floor_part_s")):
            both = out["ceiling_s"] is not None and out[floor] is not None
            out[key] = out["ceiling_s"] + out[floor] if both else None
            out[key.replace("limit", "overlapped")] = max(out["ceiling_s"], out[floor]) if both else None
        return out

    # -- h2 -----------------------------------------------------------------

    def h2(self, sc: Scenario, tools: dict[str, str]) -> None:
        """h2: the h2 corpus over TLS and HTTP/2 from the h2 nginx, one table per
        (jobs, streams) row; a run with a file missing fails (the log says how many)."""
        files = self.corpus.files[sc.corpus or sc.name]
        names = sorted(files)
        total = sum(size for size, _ in files.values())
        cset = sc.corpus or sc.name
        for jobs, streams in sc.rows:
            row = dataclasses.replace(sc, jobs=jobs, name=f"h2-j{jobs}" + (f"-s{streams}" if streams else ""))
            port = self.h2_ports[streams]
            urls = [f"https://127.0.0.1:{port}/{cset}/{n}" for n in names]
            inp = write_inputs(self.work / "lists" / row.name, urls, names, jobs, False,
                               cacert=str(self.h2_cert), no_retry=True)
            results = self.run_tools(row, inp, tools, self.outroot,
                                     lambda tool, out: verify(out, files, len(files), total, []))
            limit = (f"`http2_max_concurrent_streams {streams}`" if streams
                     else "nginx's default stream limit (128)")
            note = (f"Server: {self.h2_server_name}, {limit}. haul `--cacert --retries 0`, curl "
                    f"`--cacert --http2`. A run counts as ok only with every file present.")
            self.finish(row, results, total, note, compare_curl=True)

    # -- stdout ---------------------------------------------------------------

    def stdout(self, sc: Scenario, tools: dict[str, str]) -> None:
        """The small corpus, every tool writing all bodies to its stdout; haul's own
        to-disk run of the same files (haul-disk) is the reference."""
        files = self.corpus.files[sc.corpus]
        names = sorted(files)  # the input order, the order of the stream
        urls = [f"http://127.0.0.1:{self.bulk_port}/{sc.corpus}/{n}" for n in names]
        inp = write_inputs(self.work / "lists" / sc.name, urls, names, sc.jobs, False,
                           stdout=True, count=len(urls))
        total = sum(s for s, _ in files.values())
        h = hashlib.sha256()  # the expected stream, once
        for n in names:
            h.update((self.corpus_root / sc.corpus / n).read_bytes())
        ordered = h.hexdigest()

        def check(tool: str, out: Path) -> tuple[bool, str]:
            if tool == DISK:
                return verify(out, files, len(files), total, [])
            return verify_stream(out, total, None if tool in UNORDERED else ordered, tool in HAULS)

        results = self.run_tools(sc, inp, tools, self.outroot, check)
        checked = {t: "unordered: byte count only" if t in UNORDERED else
                   "to disk: files, names, sha256 of 20" if t == DISK else
                   "in order: sha256 of the stream" for t in tools}
        note = (f"Server: {self.bulk_server_name}. Each tool's stdout is a file on tmpfs, hashed "
                "after the run; haul-disk is haul's own run to a folder (`-d`, as in small). "
                "aria2c and the aiohttp script cannot write to stdout and do not run.")
        self.finish(sc, results, total, note, checked)

    def scenario_tools(self, sc: Scenario, tools: dict[str, str]) -> dict[str, str]:
        """haul-auto only in the split scenarios; without --tools, a scenario with
        peers=False runs only the haul builds; stdout: the rows of STDOUT_ROWS."""
        if sc.kind == "h2":
            return {t: e for t, e in tools.items() if t in HAULS + ("curl",) and t != AUTO}
        if sc.kind == "stdout":
            xargs = shutil.which("xargs")
            return {row: exe for t, exe in tools.items() for row in STDOUT_ROWS.get(t, ())
                    if row != CURL_XARGS or xargs}
        if sc.kind != "split":
            return {t: e for t, e in tools.items() if t != AUTO}
        if sc.peers or self.args.tools:
            return tools
        return {t: e for t, e in tools.items() if t in HAULS}

    # -- latency / flaky ----------------------------------------------------

    def synthetic(self, sc: Scenario, tools: dict[str, str]) -> None:
        path = "delay" if sc.kind == "latency" else "flaky"
        ns = list(range(1, sc.count + 1))
        names = [str(n) for n in ns]
        urls = [f"http://127.0.0.1:{self.test_port}/{path}/{n}" for n in ns]
        expected = {str(n): (KiB, hashlib.sha256(synth_body(n)).hexdigest()) for n in ns}
        inp = write_inputs(self.work / "lists" / sc.name, urls, names, sc.jobs, sc.kind == "flaky")
        total = KiB * sc.count
        full = sc.kind == "flaky"
        results = self.run_tools(
            sc, inp, tools, self.outroot,
            lambda tool, out: verify(out, expected, len(expected), total, [], full=full),
            flaky_port=self.test_port if full else None)
        if sc.kind == "latency":
            ideal = sc.count / sc.jobs * 0.1
            note = f"Ideal wall time {ideal:.1f} s ({sc.count} / {sc.jobs} × 100 ms)."
        else:
            fails = sc.count // 5
            note = (f"{fails} URLs answer 503 on their first request, so the minimum is "
                    f"{sc.count + fails} requests; every tool retries with a 1 s wait. "
                    f"A run counts as ok only if every file is present with the right sha256.")
        note += f" Server: {self.test_server_name} (/{path}/N)."
        self.finish(sc, results, total, note)

    # -- memory -------------------------------------------------------------

    def memory(self, sc: Scenario, builds: dict[str, str]) -> None:
        """builds: {"haul": path}, plus {BASE: path} with --haul-baseline (same
        arguments, interleaved in each run)."""
        big, small, real = sc.count, sc.base, sc.real
        both = len(builds) > 1
        lists = self.work / "lists" / "memory"
        lists.mkdir(parents=True, exist_ok=True)
        url = f"http://127.0.0.1:{self.bulk_port}/m/"

        def write_list(n: int) -> Path:
            p = lists / f"m{n}.txt"
            if not p.exists():
                with open(p, "w") as f:
                    for a in range(1, n + 1, 100_000):
                        f.write("".join(f"{url}{k}\n" for k in range(a, min(n, a + 99_999) + 1)))
            return p

        one_sha = sha256_file(self.corpus_root / "one.bin")
        logs = self.work / "logs"
        logs.mkdir(exist_ok=True)
        rows = []
        res: dict[tuple[str, str, int], list[Run]] = {}
        cases = [("dry-run", small), ("dry-run", big), ("real", small), ("real", real)]
        for mode, n in cases:
            lst = write_list(n)
            order = list(builds.items())
            for i in range(self.args.runs):
                k = i % len(order)  # no build always first (see run_tools)
                for tool, exe in order[k:] + order[:k]:
                    out = self.outroot / "memory"
                    reset_dir(out)
                    cmd = [exe, "-i", str(lst), "-d", str(out), "-j", str(sc.jobs), "--progress", "none", "-q"]
                    if mode == "dry-run":
                        cmd.append("--dry-run")
                    timeout = self.args.timeout if mode == "dry-run" else max(self.args.timeout, n / 500)
                    name = f"memory-{mode}-{n}-{i + 1}.log"
                    if tool != "haul":
                        name = f"memory-{tool}-{name[7:]}"
                    r = measure(tool, cmd, logs / name, timeout,
                                stdout="/dev/null" if mode == "dry-run" else None)
                    if r.timed_out:
                        r.msg = f"timed out after {timeout:.0f}s"
                    elif r.rc != 0:
                        r.msg = f"exit {r.rc}: {tail(r.log)}"
                    elif mode == "real":
                        smp = [(str(k + 1), one_sha) for k in sample_idx(n)]
                        r.ok, r.msg = verify(out, None, n, n * KiB, smp)
                    else:
                        left = scan(out) if out.exists() else {}
                        r.ok = not left
                        r.msg = "nothing written" if r.ok else f"--dry-run wrote {len(left)} files"
                    res.setdefault((tool, mode, n), []).append(r)
                    who = f"{tool:9} " if both else ""
                    log(f"  memory   run {i + 1}/{self.args.runs}  {who}{mode:7} {n:>9,} URLs  {r.wall:8.3f} s  "
                        f"cpu {r.cpu:7.2f} s  rss {r.rss_kib / KiB:7.1f} MiB  {'ok' if r.ok else 'FAILED'}: {r.msg}")
                    shutil.rmtree(out, ignore_errors=True)
        med = {}
        for (tool, mode, n), rs in res.items():
            s = summarize(rs)
            med[(tool, mode, n)] = s.get("rss_mib")
            lead = f"| {tool} " if both else ""
            rows.append(f"{lead}| {mode} | {n:,} | {fmt(s.get('rss_mib'), 1)} | "
                        f"{' / '.join(f'{r.rss_kib / KiB:.1f}' for r in rs)} | {fmt(s.get('wall'))} | "
                        f"{fmt(s.get('cpu'))} | {s['status']} |")
        growth = []
        for tool in builds:
            who = f"{tool} " if both else ""
            for mode, n in (("dry-run", big), ("real", real)):
                a, b = med.get((tool, mode, small)), med.get((tool, mode, n))
                if a is not None and b is not None and n > small:
                    per = (b - a) * MiB / (n - small)
                    growth.append(f"- {who}{mode}: ({fmt(b, 1)} MiB − {fmt(a, 1)} MiB) / {n - small:,} URLs = "
                                  f"**{per:.1f} bytes per URL**")
                    key = "memory_growth" if tool == "haul" else "memory_growth_base"
                    self.json.setdefault(key, {})[mode] = per
                else:
                    growth.append(f"- {who}{mode}: not measured (a run failed)")
        hdr = "| mode | URLs | peak RSS median (MiB) | runs (MiB) | wall (s) | CPU s | status |"
        sep = "|---|---|---|---|---|---|---|"
        if both:
            hdr, sep = "| tool " + hdr, "|---" + sep
        table = "\n".join([hdr, sep, *rows])
        who = f"haul and {BASE}" if both else "haul"
        text = (f"### memory: {who} peak RSS, {small:,} vs {big:,}-line lists (real run: {small:,} vs {real:,})\n\n"
                f"`--dry-run` (stdout to /dev/null) and a real run where every URL `/m/N` serves the same "
                f"1 KiB file (-j {sc.jobs}, default `{{name}}` naming, so N files are written). "
                f"Server: {self.bulk_server_name}.\n\n{table}\n\nGrowth:\n\n" + "\n".join(growth) + "\n")
        vs = {}
        if both:
            lines = []
            for mode, n in cases:
                v = vs[f"{mode}-{n}"] = base_ratios(summarize(res[("haul", mode, n)]),
                                                    summarize(res[(BASE, mode, n)]), ("wall", "cpu", "rss_mib"))
                lines.append(base_line(v, f" ({mode}, {n:,} URLs)"))
            text += "\n" + "\n".join(lines) + "\n"
        log("\n" + text)
        self.sections.append(text)
        self.json["scenarios"]["memory"] = {
            "runs": {f"{m}-{n}": [{k: v for k, v in r.__dict__.items() if k != "log"} for r in rs]
                     for (t, m, n), rs in res.items() if t == "haul"}}
        if both:
            self.json["scenarios"]["memory"]["baseline_runs"] = {
                f"{m}-{n}": [{k: v for k, v in r.__dict__.items() if k != "log"} for r in rs]
                for (t, m, n), rs in res.items() if t == BASE}
            self.json["scenarios"]["memory"]["haul_vs_base"] = vs

    # -- main -----------------------------------------------------------------

    def main(self) -> int:
        a = self.args
        all_sc = scenarios(a.quick, a.memory_real)
        chosen = [all_sc[n] for n in (a.scenario or list(all_sc))]

        # haul binary
        haul = a.haul or str(build_haul())
        if not os.access(haul, os.X_OK):
            log(f"error: {haul} is not an executable")
            return 2
        haul = os.path.abspath(haul)
        order = ["haul", AUTO, *TOOLS[1:]]
        exes: dict[str, str] = {"haul": haul}
        if any(sc.kind == "split" for sc in chosen):
            exes[AUTO] = haul
        if a.haul_baseline:
            if not os.access(a.haul_baseline, os.X_OK):
                log(f"error: {a.haul_baseline} is not an executable")
                return 2
            exes[BASE] = os.path.abspath(a.haul_baseline)
            order = ["haul", AUTO, BASE, *TOOLS[1:]]

        # peers
        want = [t.strip() for t in a.tools.split(",")] if a.tools else order
        venv_ok, venv_msg = ensure_venv(not a.no_pip)
        missing: list[str] = []
        for t in ("curl", "aria2c", "wget2"):
            p = shutil.which(t)
            if p:
                exes[t] = p
            else:
                missing.append(f"{t} (not installed; benches/setup.sh installs it)")
        if venv_ok:
            exes["python"] = str(venv_python())
        else:
            missing.append(f"python ({venv_msg})")
        if TTY in want:
            if shutil.which("script"):
                exes[TTY] = haul
                order = [*order[:1], TTY, *order[1:]]
            else:
                missing.append(f"{TTY} (script(1) not installed)")
        tools = {t: exes[t] for t in order if t in exes and t in want}

        # work dirs
        shm = Path("/dev/shm")
        need = self.space_needed(chosen)
        base = None
        if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > need * 1.2:
            base = shm
        self.work = Path(tempfile.mkdtemp(prefix="haul-bench-", dir=base))
        self.outroot = self.work / "out"
        self.corpus_root = self.work / "corpus"
        self.corpus_root.mkdir()
        try:
            return self.run(chosen, tools, missing, base, haul)
        finally:
            stop_servers()
            if a.keep:
                log(f"# kept {self.work}")
            else:
                shutil.rmtree(self.work, ignore_errors=True)

    def space_needed(self, chosen: list[Scenario]) -> int:
        need = 0
        biggest_out = 0
        sets = {}
        for sc in chosen:
            if sc.kind in ("bulk", "split", "stdout", "h2"):
                # split and split-uncapped share one; stdout uses small's (its stream: one file)
                sets[sc.corpus or sc.name] = sc.count * sc.size
                biggest_out = max(biggest_out, sc.count * max(sc.size, 4 * KiB))
            elif sc.kind == "memory":
                biggest_out = max(biggest_out, sc.real * 5 * KiB)  # 1 KiB file = 1 page + inode
        need += sum(sets.values())
        return need + biggest_out + 64 * MiB

    def run(self, chosen, tools, missing, base, haul) -> int:
        a = self.args
        t_start = time.perf_counter()
        if base:
            log(f"# work dir {self.work} on tmpfs ({fs_type(self.work)}): corpus and output dirs in RAM")
        else:
            log(f"# work dir {self.work} ({fs_type(self.work)}): /dev/shm missing or too small, "
                f"output dirs are NOT on tmpfs")

        # corpus
        corpus = self.corpus = Corpus(self.corpus_root)
        for sc in chosen:
            cset = sc.corpus or sc.name
            if sc.kind in ("bulk", "split", "stdout", "h2") and cset not in corpus.files:
                t0 = time.perf_counter()
                corpus.make_set(cset, sc.count, sc.size)
                log(f"# corpus {cset}: {sc.count:,} × {human(sc.size)} in {time.perf_counter() - t0:.1f} s")
        corpus.make_file(self.corpus_root / "one.bin", "one", KiB)

        # servers
        py = str(venv_python()) if venv_has_aiohttp() else sys.executable
        self.bulk_port = None
        self.test_port = None
        self.nginx = False  # only nginx serves /capped/ (limit_rate)
        needs_bulk = any(sc.kind in ("bulk", "split", "stdout", "memory") for sc in chosen)
        needs_test = any(sc.kind in ("latency", "flaky") for sc in chosen)
        self.h2_ports: dict[int, int] = {}
        if any(sc.kind == "h2" for sc in chosen):
            started_h2 = start_nginx_h2(self.work, self.corpus_root, a.nginx_workers)
            if started_h2:
                self.h2_ports, self.h2_server_name, self.h2_cert = started_h2
        if needs_bulk and not a.python_server:
            started = start_nginx(self.work, self.corpus_root, a.nginx_workers)
            if started:
                self.bulk_port, self.bulk_server_name = started
                self.nginx = True
                self.nginx_pid = SERVERS[-1].pid
        if needs_bulk and self.bulk_port is None:
            port, backend = start_testserver(py, self.corpus_root, self.work)
            self.bulk_port = port
            self.bulk_server_name = f"Python {backend} static server (FALLBACK: nginx not installed or not used)"
            log(f"# nginx not available: bulk cases use the {backend} Python server instead "
                f"(slower; results are not comparable to nginx runs)")
        if needs_test:
            rust_server = None if a.python_test_server else build_bench_server()
            port, backend = start_testserver(py, None, self.work, rust_server)
            self.test_port = port
            if backend == "rust":
                self.test_server_name = "Rust hyper test server (examples/bench_server.rs)"
            else:
                self.test_server_name = f"Python {backend} test server" + (
                    "" if backend == "aiohttp" else " (FALLBACK: aiohttp not available)")

        header = self.machine_header(tools, missing, haul)
        log(header)
        load1 = os.getloadavg()[0]
        if load1 > 0.5 * (os.cpu_count() or 1):
            log(f"# WARNING: load average {load1:.1f} on {os.cpu_count()} CPUs: the machine is busy, "
                f"timings will be noisy")

        for sc in chosen:
            log(f"\n## {sc.name}")
            if sc.kind == "split" and sc.cap and not self.nginx:
                text = (f"### {sc.name}: skipped\n\nThe per-connection cap needs nginx (`limit_rate`); "
                        f"the bulk server is {self.bulk_server_name}.\n")
                log("\n" + text)
                self.sections.append(text)
            elif sc.kind == "h2" and not self.h2_ports:
                text = f"### {sc.name}: skipped\n\nIt needs nginx (with TLS and HTTP/2) and openssl.\n"
                log("\n" + text)
                self.sections.append(text)
            elif sc.kind == "h2":
                self.h2(sc, self.scenario_tools(sc, tools))
            elif sc.kind in ("bulk", "split"):
                self.bulk(sc, self.scenario_tools(sc, tools))
            elif sc.kind == "stdout":
                self.stdout(sc, self.scenario_tools(sc, tools))
            elif sc.kind in ("latency", "flaky"):
                self.synthetic(sc, self.scenario_tools(sc, tools))
            elif sc.kind == "memory":
                # haul always runs here (it is the subject); the baseline when selected
                self.memory(sc, {"haul": haul, **({BASE: tools[BASE]} if BASE in tools else {})})

        elapsed = time.perf_counter() - t_start
        doc = header + "\n" + "\n".join(self.sections) + f"\n_Harness wall time: {elapsed:.0f} s._\n"
        RESULTS_DIR.mkdir(exist_ok=True)
        (RESULTS_DIR / "latest.md").write_text(doc)
        self.json["header"] = header
        (RESULTS_DIR / "latest.json").write_text(json.dumps(self.json, indent=1, default=str))
        log(f"\n# wrote {(RESULTS_DIR / 'latest.md').relative_to(REPO)} and latest.json "
            f"({elapsed:.0f} s in all)")
        return 0

    def machine_header(self, tools, missing, haul) -> str:
        a = self.args
        try:
            aff = len(os.sched_getaffinity(0))
        except AttributeError:
            aff = os.cpu_count()
        rev = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip() or "?"
        vers = {
            "haul": first_line([haul, "--version"]) + f" (git {rev})",
            "curl": first_line(["curl", "--version"]),
            "aria2c": first_line(["aria2c", "--version"]),
            "wget2": first_line(["wget2", "--version"]),
            "python": first_line([str(venv_python()), "-c",
                                  "import sys, aiohttp; print('Python', sys.version.split()[0], "
                                  "'aiohttp', aiohttp.__version__)"]),
        }
        if BASE in tools:
            vers[BASE] = first_line([tools[BASE], "--version"]) + f" ({tools[BASE]}; same arguments as haul)"
        if AUTO in tools:
            vers[AUTO] = (f"the same haul binary with `--split auto` (split scenarios only; there haul "
                          f"itself gets `--split {SPLIT}` in split and no --split in split-uncapped)")
        if TTY in tools:
            vers[TTY] = (f"the same haul under `script -qec` with `--progress bar` and no `-q` "
                         f"({first_line(['script', '--version'])})")
        lines = [
            "# haul benchmark results",
            "",
            f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- command: `python3 benches/bench.py {' '.join(sys.argv[1:])}`",
            f"- machine: {os.cpu_count()} CPUs online ({aff} usable, nproc), {cpu_model()}, "
            f"{mem_total()} RAM",
            f"- kernel: {platform.system()} {platform.release()}",
            f"- load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
            f"- output dirs: {self.outroot} ({fs_type(self.work)})",
            f"- runs per tool: {a.runs} (median shown; failed runs are not timed); "
            f"timeout {a.timeout:.0f} s per run; mode: {'quick (~1/10 sizes)' if a.quick else 'full'}",
            f"- servers: bulk = {getattr(self, 'bulk_server_name', 'n/a')}; "
            f"latency/flaky = {getattr(self, 'test_server_name', 'n/a')}",
            "- tools:",
        ]
        for t in tools:
            lines.append(f"  - {t}: {vers[t]}" + (f" ({haul})" if t == "haul" and BASE in tools else ""))
        for m in missing:
            lines.append(f"  - missing: {m}")
        lines.append("")
        return "\n".join(lines)


def human(n: int) -> str:
    if n >= MiB:
        return f"{n / MiB:g} MiB"
    return f"{n / KiB:g} KiB"


def main() -> int:
    ap = argparse.ArgumentParser(description="haul vs curl / aria2c / wget2 / aiohttp benchmark")
    ap.add_argument("--quick", action="store_true", help="every scenario ~10x smaller")
    ap.add_argument("--scenario", action="append",
                    choices=["small", "medium", "large", "split", "split-uncapped", "stdout", "latency",
                             "flaky", "memory", "h2"],
                    help="run only this scenario (repeatable; default all)")
    ap.add_argument("--runs", type=int, default=3, help="runs per tool (median reported; default 3)")
    ap.add_argument("--haul", help="use this haul binary instead of building one")
    ap.add_argument("--haul-baseline", metavar="PATH",
                    help=f"a second haul binary, run as tool '{BASE}' with haul's exact arguments in the "
                         f"same rounds; adds haul/{BASE} wall and CPU ratios per scenario")
    ap.add_argument("--tools", help="comma-separated subset of: " + ",".join(["haul", AUTO, *TOOLS[1:]])
                    + f" ({AUTO}, haul with --split auto, runs in the split scenarios only; {BASE} "
                      f"with --haul-baseline; {TTY}, haul with its bars in a pseudo-terminal, only "
                      f"when named; in stdout, haul adds {DISK}, curl adds {CURL_SEQ} and {CURL_XARGS})")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per tool run (default 300)")
    ap.add_argument("--memory-real", type=int, metavar="N",
                    help="URLs in the memory case's big real run (default 1,000,000; quick 100,000)")
    ap.add_argument("--nginx-workers", default="1", help="nginx worker_processes (default 1; 'auto' ok)")
    ap.add_argument("--python-server", action="store_true", help="serve bulk files from Python, not nginx")
    ap.add_argument("--python-test-server", action="store_true",
                    help="latency/flaky: use servers/testserver.py instead of the Rust examples/bench_server")
    ap.add_argument("--no-pip", action="store_true", help="never create benches/.venv or run pip")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work dir (corpus, logs)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each command line")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    if args.tools and BASE in [t.strip() for t in args.tools.split(",")] and not args.haul_baseline:
        ap.error(f"--tools {BASE} needs --haul-baseline PATH")
    SUBREAPER["on"] = become_subreaper()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        return Bench(args).main()
    except KeyboardInterrupt:
        log("\ninterrupted; servers stopped")
        return 130
    except SystemExit as e:
        if isinstance(e.code, int) and e.code > 128:
            log(f"\nstopped by signal {e.code - 128}; servers stopped")
        raise
    finally:
        stop_servers()


if __name__ == "__main__":
    sys.exit(main())
