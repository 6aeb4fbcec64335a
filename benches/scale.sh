#!/usr/bin/env bash
# Peak memory and time of haul's planner at scale (BENCHMARKS.md, "Memory at
# scale"): a glob of N URLs (default 100,000,000) as a dry run and as a real
# run against a local nginx stopped by --max-bytes, and a list of M lines
# (default 10,000,000, one in ten a repeat) as a dry run.
#
#   bash benches/scale.sh [HAUL [BASELINE_HAUL]]
#
# Needs nginx and GNU time (/usr/bin/time; Debian's `time` package). Writes
# under a temporary folder it removes; the list takes M x 36 bytes of disk.
set -euo pipefail
haul=${1:-target/release/haul}
base=${2:-}
N=${N:-100000000}
M=${M:-10000000}
work=$(mktemp -d)
# nginx's workers run as another user: they must reach the served file.
chmod 755 "$work"
trap 'nginx -p "$work" -c "$work/nginx.conf" -s stop 2>/dev/null || true; rm -rf "$work"' EXIT

measure() { # label command...
    local label=$1
    shift
    /usr/bin/time -f "%e %U %M" -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || true
    # GNU time puts "Command exited with non-zero status N" first.
    read -r wall user rss < <(tail -n 1 "$work/time")
    awk -v l="$label" -v w="$wall" -v u="$user" -v r="$rss" \
        'BEGIN { printf "| %s | %s s | %s s | %.1f MiB |\n", l, w, u, r / 1024 }'
}

last=$((N - 1))
width=${#last}
glob="https://h.example/[$(printf "%0${width}d" 0)-$last].bin"
python3 - "$work/list.txt" "$M" <<'EOF'
import sys
path, m = sys.argv[1], int(sys.argv[2])
distinct = m - m // 10
with open(path, "w") as f:
    for j in range(m):
        f.write(f"http://h.example/files/{(j * 7919) % distinct:08}.bin\n")
EOF

mkdir -p "$work/root" "$work/logs"
head -c 16384 /dev/urandom >"$work/root/one.bin"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
error_log $work/logs/error.log;
pid $work/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$port;
    root $work/root;
    location / { try_files /one.bin =404; }
  }
}
EOF
nginx -p "$work" -c "$work/nginx.conf"
# Every URL must be served, or the real run fails them all and never
# reaches --max-bytes.
for _ in $(seq 50); do
    size=$(python3 -c 'import sys, urllib.request
try: print(len(urllib.request.urlopen(sys.argv[1]).read()))
except OSError: print(0)' "http://127.0.0.1:$port/0.bin")
    [ "$size" = 16384 ] && break
    sleep 0.1
done
[ "$size" = 16384 ] || { echo "nginx does not serve 127.0.0.1:$port" >&2; exit 1; }

echo "| run | wall | user CPU | peak RSS |"
echo "|---|---:|---:|---:|"
for build in "$haul" $base; do
    name=$(basename "$build")
    measure "$name: --dry-run, glob of $N" "$build" --dry-run -q -d "$work/none" "$glob"
    measure "$name: --dry-run, list of $M lines" "$build" --dry-run -q -d "$work/none" -i "$work/list.txt"
    rm -rf "$work/out"
    measure "$name: real run, glob of $N, --max-bytes 1G" "$build" -q -d "$work/out" --max-bytes 1G \
        "http://127.0.0.1:$port/[$(printf "%0${width}d" 0)-$last].bin"
    rm -rf "$work/out"
done
