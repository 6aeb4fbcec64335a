#!/usr/bin/env python3
"""The "classic" asyncio + aiohttp bulk downloader, as a benchmark peer.

    aiohttp_fetch.py -i urls.txt -d OUT -j 16 [--retries 3 --retry-wait 1]

One ClientSession with TCPConnector(limit=J), an asyncio.Semaphore(J) around
each download, every body streamed to OUT/<last URL path segment> in 64 KiB
chunks. A 5xx answer or a connection error is retried after --retry-wait
seconds, up to --retries more times. Exit 1 if any URL failed.

It is deliberately the shape people write by hand (plain blocking file writes
in the event loop, the whole list read up front), not a tuned downloader.
"""

import argparse
import asyncio
import os
import sys
from urllib.parse import unquote, urlsplit

import aiohttp

CHUNK = 64 * 1024


def dest_name(url: str) -> str:
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return name or "index.html"


async def fetch(session, sem, url, out_dir, retries, retry_wait):
    path = os.path.join(out_dir, dest_name(url))
    async with sem:
        for attempt in range(retries + 1):
            try:
                async with session.get(url) as resp:
                    if resp.status >= 500 and attempt < retries:
                        await resp.read()
                        await asyncio.sleep(retry_wait)
                        continue
                    if resp.status != 200:
                        print(f"{url}: HTTP {resp.status}", file=sys.stderr)
                        return False
                    with open(path, "wb") as f:
                        async for chunk in resp.content.iter_chunked(CHUNK):
                            f.write(chunk)
                    return True
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                if attempt < retries:
                    await asyncio.sleep(retry_wait)
                    continue
                print(f"{url}: {e!r}", file=sys.stderr)
                return False
    return False


async def run(args):
    with open(args.input_file) as f:
        urls = [line.split()[0] for line in f if line.strip() and not line.startswith("#")]
    os.makedirs(args.dir, exist_ok=True)
    sem = asyncio.Semaphore(args.jobs)
    connector = aiohttp.TCPConnector(limit=args.jobs)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        results = await asyncio.gather(
            *(fetch(session, sem, u, args.dir, args.retries, args.retry_wait) for u in urls)
        )
    failed = results.count(False)
    if failed:
        print(f"{failed} of {len(urls)} failed", file=sys.stderr)
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description="asyncio+aiohttp bulk downloader (benchmark peer)")
    ap.add_argument("-i", "--input-file", required=True)
    ap.add_argument("-d", "--dir", default=".")
    ap.add_argument("-j", "--jobs", type=int, default=16)
    ap.add_argument("--retries", type=int, default=0)
    ap.add_argument("--retry-wait", type=float, default=1.0)
    args = ap.parse_args()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
