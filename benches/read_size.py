#!/usr/bin/env python3
"""Who pays for receiving on loopback: the server's CPU against the client's
read size.

Fetches the large scenario's work (2 x 512 MiB, one connection each, in
parallel) from the same nginx as bench.py, with a bare client that reads each
body with recv_into() of a fixed size and keeps nothing, for several read
sizes in turn; prints, per size, the median wall time, the client's CPU, the
nginx worker's CPU and their sum.

On loopback a segment is handed to the receiving socket in the sender's
softirq, and is processed there unless the receiver is inside a read at that
moment (then the receiver processes it when its read ends); the wake-up of a
receiver waiting in epoll is the sender's too. So the server's CPU figure
depends on the client's read pattern while the total barely does. See
BENCHMARKS.md, "Large files: the server's CPU and the client's reads".

    python3 benches/read_size.py [--runs 9] [--sizes 16,64,128,512] [--mib 512]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (start_nginx, group_cpu, SERVERS, stop_servers)

KiB = 1024
MiB = 1024 * KiB


def fetch(port: int, path: str, size: int, read: int, out: Path | None, errors: list[str]) -> None:
    """GET path and read its body with recv_into(read) until size bytes came,
    each piece written to out as it comes (when given)."""
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if out else None
    try:
        receive(port, path, size, read, fd, errors)
    finally:
        if fd is not None:
            os.close(fd)


def receive(port: int, path: str, size: int, read: int, fd: int | None, errors: list[str]) -> None:
    """fetch's request and read, each piece written to fd (when given)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        buf = bytearray(max(read, 64 * KiB))
        view = memoryview(buf)
        head = b""
        while b"\r\n\r\n" not in head:
            n = s.recv_into(view[:read])
            if not n:
                errors.append(f"{path}: the answer ended in its head")
                return
            head += bytes(view[:n])
        status = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status:
            errors.append(f"{path}: {status.decode(errors='replace')}")
            return
        got = len(head) - head.index(b"\r\n\r\n") - 4
        while got < size:
            n = s.recv_into(view[:read])
            if not n:
                errors.append(f"{path}: {got} of {size} bytes")
                return
            got += n
            if fd is not None:
                os.write(fd, view[:n])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=9, help="runs per read size (median shown; default 9)")
    ap.add_argument("--sizes", default="16,64,128,512", help="read sizes in KiB (default 16,64,128,512)")
    ap.add_argument("--mib", type=int, default=512, help="size of each of the 2 files in MiB (default 512)")
    ap.add_argument("--write", action="store_true",
                    help="write each piece to a file (on the work dir's file system) as it comes")
    a = ap.parse_args()
    sizes = [int(x) * KiB for x in a.sizes.split(",")]
    size = a.mib * MiB

    work = Path(tempfile.mkdtemp(prefix="haul-read-size-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    try:
        corpus = work / "corpus"
        corpus.mkdir()
        block = os.urandom(MiB)
        for name in ("a.bin", "b.bin"):
            with open(corpus / name, "wb") as f:
                for _ in range(a.mib):
                    f.write(block)
        os.chmod(work, 0o755)  # nginx's workers may run as nobody
        os.chmod(corpus, 0o755)
        started = bench.start_nginx(work, corpus, "1")
        if started is None:
            print("nginx did not start (apt-get install nginx-light)", file=sys.stderr)
            return 2
        port, server = started
        master = bench.SERVERS[-1].pid
        rows: dict[int, list[tuple[float, float, float]]] = {n: [] for n in sizes}
        for i in range(a.runs):
            # Each round starts with the next size: none always goes first.
            k = i % len(sizes)
            for read in sizes[k:] + sizes[:k]:
                errors: list[str] = []
                out = work / "out"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                threads = [threading.Thread(target=fetch, args=(port, f"/{n}", size, read,
                                                                out / n if a.write else None, errors))
                           for n in ("a.bin", "b.bin")]
                cpu0, own0, t0 = bench.group_cpu(master), resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                wall, own1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
                time.sleep(0.1)  # the worker's last ticks
                cpu1 = bench.group_cpu(master)
                if errors:
                    print(f"read {read // KiB} KiB: {'; '.join(errors)}", file=sys.stderr)
                    return 1
                client = (own1.ru_utime - own0.ru_utime) + (own1.ru_stime - own0.ru_stime)
                rows[read].append((wall, client, (cpu1 or 0) - (cpu0 or 0)))
        kept = "each piece written to a file as it comes" if a.write else "nothing kept"
        print(f"{server}; 2 x {a.mib} MiB, one connection each, {kept}; medians of {a.runs} runs\n")
        print("| read size | wall (s) | client CPU (s) | nginx CPU (s) | sum (s) |")
        print("|---:|---:|---:|---:|---:|")
        for read in sizes:
            wall, client, server_cpu = (statistics.median(r[j] for r in rows[read]) for j in range(3))
            sums = statistics.median(r[1] + r[2] for r in rows[read])
            print(f"| {read // KiB} KiB | {wall:.3f} | {client:.2f} | {server_cpu:.2f} | {sums:.2f} |")
        return 0
    finally:
        bench.stop_servers()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
