#!/usr/bin/env python3
"""How closely `--limit-rate` holds over any 5 s window of a long download.

    python3 benches/limit_rate_window.py [--haul PATH] [--size-mib 24] [--rate-mib 2]

Serves a file of random bytes from Python's http.server on 127.0.0.1,
downloads it with `haul --limit-rate`, samples the size of the file on disk
every 50 ms, and prints the run time against the ideal and the most bytes
received in any 5 s window as a multiple of the rate. Standard library only.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--haul", default=str(REPO / "target" / "release" / "haul"))
    ap.add_argument("--size-mib", type=int, default=24)
    ap.add_argument("--rate-mib", type=int, default=2)
    args = ap.parse_args()
    rate = args.rate_mib * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "big.bin").write_bytes(os.urandom(args.size_mib * 1024 * 1024))
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        try:
            line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N ..."
            port = int(line.split(" port ")[1].split()[0])
            out = root / "out"
            haul = subprocess.Popen([
                args.haul, f"http://127.0.0.1:{port}/big.bin", "-d", str(out),
                "--limit-rate", f"{args.rate_mib}M", "-q",
            ])
            samples, t0 = [], time.monotonic()
            while haul.poll() is None:
                size = 0
                for name in ("big.bin.part", "big.bin"):
                    try:
                        size = (out / name).stat().st_size
                        break
                    except OSError:
                        pass
                samples.append((time.monotonic() - t0, size))
                time.sleep(0.05)
            total = time.monotonic() - t0
        finally:
            server.terminate()
    worst = 0.0
    for i, (t, s) in enumerate(samples):
        for t2, s2 in samples[i:]:
            if t2 - t >= 5.0:
                worst = max(worst, (s2 - s) / ((t2 - t) * rate))
                break
    ideal = args.size_mib / args.rate_mib
    print(f"{args.size_mib} MiB at --limit-rate {args.rate_mib}M: {total:.2f} s "
          f"(ideal {ideal:.1f} s); busiest 5 s window: {worst:.3f} x the rate; "
          f"exit {haul.returncode}")
    return haul.returncode


if __name__ == "__main__":
    sys.exit(main())
