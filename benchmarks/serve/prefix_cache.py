#!/usr/bin/env python3
"""Prefix-cache benchmark against a running `r2l serve` (standard library only).

  prefix_cache.py --url http://127.0.0.1:PORT --pid SERVER_PID --bound-mb MB [--out FILE.json]

1. shared vs cold: a ~600-token passage answered with max_tokens=1. "cold" requests start with
   a different number each time (no cached prefix can match); "shared" requests put the same
   passage first and a different number after it, right after one warm request, so everything
   but the last few tokens can come from the cache. Five of each, alternating; medians.
2. memory: 40 distinct ~600-token prompts (each starts with its own number); the server's RSS
   (VmRSS of --pid) growth from before the first request of this script (the cache empty) to
   after them, against the bound + 200 MB (the growth from right before the 40 is also shown).
Prints JSON (and writes --out); exit 1 when a goal is missed.
"""
import argparse
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from client import WORDS, post  # noqa: E402


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"prefix_cache.py: no VmRSS for pid {pid}")


def metric(base, name):
    with urllib.request.urlopen(base + "/metrics", timeout=60) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--bound-mb", type=float, required=True)
    ap.add_argument("--model", help="model id to send (default: the first of /v1/models)")
    ap.add_argument("--words", type=int, default=450, help="passage words (~600 tokens)")
    ap.add_argument("--out")
    args = ap.parse_args()
    base = args.url.rstrip("/")
    url = base + "/v1/completions"
    if not args.model:
        with urllib.request.urlopen(base + "/v1/models", timeout=60) as resp:
            args.model = json.loads(resp.read())["data"][0]["id"]
    passage = " ".join((WORDS * 3)[: args.words])

    def ask(prompt):
        body = {"model": args.model, "prompt": prompt, "max_tokens": 1, "temperature": 0.0}
        t0 = time.perf_counter()
        answer = post(url, body)
        return time.perf_counter() - t0, answer["usage"]["prompt_tokens"]

    at_start = rss_mb(args.pid)
    ask("warm up")
    cold, shared, tokens = [], [], None
    for i in range(5):
        seconds, tokens = ask(f"{9000 + i}. {passage}")
        cold.append(seconds)
        ask(f"{passage}\n{100 + i}")  # the shared prefix is now the most recent entry
        seconds, _ = ask(f"{passage}\n{200 + i}")
        shared.append(seconds)
    ratio = statistics.median(shared) / statistics.median(cold)

    before = rss_mb(args.pid)
    for i in range(40):
        ask(f"{1000 + i}. {passage}")
    after = rss_mb(args.pid)
    growth = after - at_start
    result = {
        "prompt_tokens": tokens,
        "cold_seconds": cold,
        "shared_seconds": shared,
        "shared_over_cold": ratio,
        "rss_at_start_mb": at_start,
        "rss_before_the_40_mb": before,
        "rss_after_40_mb": after,
        "rss_growth_mb": growth,
        "rss_growth_over_the_40_mb": after - before,
        "bound_mb": args.bound_mb,
        "cache_bytes_after": metric(base, "r2l_prefix_cache_bytes"),
        "evictions_after": metric(base, "r2l_prefix_cache_evictions_total"),
        "goals": {
            "shared <= 0.5x cold": ratio <= 0.5,
            "rss growth from start < bound + 200 MB": growth < args.bound_mb + 200,
        },
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    sys.exit(0 if all(result["goals"].values()) else 1)


if __name__ == "__main__":
    main()
