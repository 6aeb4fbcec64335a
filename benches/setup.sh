#!/bin/sh
# Installs the benchmark peers and test-server dependencies (Debian/Ubuntu).
#   sudo benches/setup.sh        (apt-get needs root; pip goes into benches/.venv)
# Everything is optional: bench.py runs whichever peers it finds and says which
# were missing; without nginx it serves the corpus from Python instead.
set -eu
here=$(cd "$(dirname "$0")" && pwd)

if command -v apt-get >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light aria2 wget2 curl
    # The Debian package starts a system nginx on port 80; the harness runs its
    # own instance on a free 127.0.0.1 port and does not need that one.
else
    echo "setup.sh: no apt-get; install nginx, aria2, wget2 and curl yourself" >&2
fi

python3 -m venv "$here/.venv"
"$here/.venv/bin/python" -m pip install --upgrade aiohttp
echo "setup.sh: done; now run: python3 benches/bench.py"
