#!/usr/bin/env python3
"""Measurement client for OpenAI-compatible servers (r2l serve, llama-cpp-python's server).

  client.py measure --url http://127.0.0.1:PORT [--out FILE.json] [--runs 3] ...
  client.py table RESULTS_DIR      # r2l vs llama.cpp table from the saved JSON files

`measure` uses POST /v1/completions only, with greedy decoding (temperature 0):
  prompt      a fixed English passage cut to ~256 tokens as counted by the server
              (usage.prompt_tokens, found by a few max_tokens=1 requests that also warm up).
              Every request starts with a different fixed-width number ("2400. ", a counter
              written backwards) so no server can reuse a cached prefix of the last request.
  prefill     prompt tokens / time to first token of a streaming request with max_tokens=1
  decode      (n - 1) / (t_last_token - t_first_token) of a streaming request with
              max_tokens=128; n = usage.completion_tokens if the server sends usage in the
              stream, else the number of non-empty chunks (both are reported)
  8-way       sum(usage.completion_tokens) / wall time of 8 concurrent non-streaming
              128-token requests (includes their 8 prefills)
Each measure runs --runs times (default 3) after a warm-up; the reported value is the
MEDIAN, with every run listed. Output: JSON on stdout (and --out). Standard library only.
"""
import argparse
import json
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

PASSAGE = (
    "The lighthouse at the end of the northern breakwater was built in 1874 by a company of "
    "stonemasons who had never seen the sea before they arrived in the harbour town. They came "
    "from the quarries in the hills, bringing their own tools, their own songs and a stubborn "
    "belief that a tower of granite could outlast any storm the ocean might send against it. "
    "The harbour master, a careful man named Elias Varga, kept a journal of the construction, "
    "and his notes describe the slow work of laying the foundation on rock that was exposed "
    "only at the lowest tides of spring. Each block was cut on shore, numbered, carried out on "
    "a flat barge and lowered into place by a wooden crane that had to be dismantled whenever "
    "the wind rose above a moderate breeze. In the first winter the sea destroyed the crane "
    "twice and carried away a month of work, but the masons rebuilt it and continued. By the "
    "second summer the tower had reached the height of the harbour wall, and the townspeople "
    "began to walk out along the breakwater in the evenings to watch the masons climb the "
    "scaffolding. The lamp itself was made in a workshop in the capital: a great lens of "
    "polished glass prisms arranged in rings, which gathered the light of a single oil flame "
    "and threw it in a beam that could be seen, on a clear night, from twenty miles out at sea. "
    "When the lamp was lit for the first time, in the autumn of 1876, the whole town gathered "
    "on the quay, and the fishing boats that were still out on the water sounded their horns "
    "as the beam swept over them. For the next ninety years the light was kept by three "
    "families in turn, who lived in the small stone cottage at the foot of the tower and "
    "climbed its one hundred and twelve steps every evening at dusk to trim the wick, polish "
    "the glass and wind the clockwork that turned the lens. The keepers' logbooks, which are "
    "now kept in the town library, record every ship that passed, every storm, every fog and "
    "every night on which the light failed, which happened only four times in all those years. "
    "The most famous of the keepers was a woman named Ada Lindqvist, who took over the light "
    "after her husband drowned while rowing supplies out to the tower in a sudden squall. She "
    "kept it alone for twenty-six years, raised four children in the cottage, and during the "
    "great storm of 1911 she rowed out twice in the dark to rescue the crew of a coal barge "
    "that had been driven onto the rocks beneath the tower. The town later named its school "
    "after her, and a small bronze statue of her, holding a lantern, still stands at the "
    "landward end of the breakwater, where children leave shells and smooth stones at her feet"
)
WORDS = PASSAGE.split()
TIMEOUT = 1800


def post(url, body, stream=False):
    """POST JSON; returns the parsed answer, or for stream=True the list of (time, chunk)."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        resp = urllib.request.urlopen(req, timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        raise SystemExit(f"client.py: {url} answered {e.code}: {e.read()[:500]!r}")
    with resp:
        if not stream:
            return json.loads(resp.read())
        events = []
        for raw in resp:
            line = raw.decode().strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            events.append((time.perf_counter(), json.loads(data)))
        return events


class Bench:
    def __init__(self, base, model, prompt_tokens, gen_tokens):
        self.url = base.rstrip("/") + "/v1/completions"
        self.model, self.gen_tokens, self.nonce = model, gen_tokens, 0
        self.words = self.calibrate(prompt_tokens)

    def prompt(self, n_words=None):
        self.nonce += 1
        # zero-padded counter written backwards: the first token differs between consecutive requests
        tag = f"{self.nonce % 10000:04d}"[::-1]
        return f"{tag}. " + " ".join(WORDS[: n_words or self.words])

    def body(self, prompt, max_tokens, stream):
        return {"model": self.model, "prompt": prompt, "max_tokens": max_tokens,
                "temperature": 0.0, "stream": stream}

    def count_prompt(self, n_words):
        answer = post(self.url, self.body(self.prompt(n_words), 1, False))
        return answer["usage"]["prompt_tokens"]

    def calibrate(self, target):
        """Number of passage words whose prompt is closest to `target` tokens (server's count)."""
        n = min(len(WORDS), int(target / 1.3))
        seen = {}
        for _ in range(8):
            seen[n] = self.count_prompt(n)
            if seen[n] == target:
                break
            step = round((target - seen[n]) / 1.3) or (1 if seen[n] < target else -1)
            n = max(1, min(len(WORDS), n + step))
            if n in seen:
                break
        best = min(seen, key=lambda k: (abs(seen[k] - target), k))
        if best == len(WORDS) and seen[best] < target - 8:
            sys.exit(f"client.py: the passage is only {seen[best]} tokens, less than {target}")
        self.prompt_tokens = seen[best]
        return best

    def prefill(self):
        t0 = time.perf_counter()
        events = post(self.url, self.body(self.prompt(), 1, True), stream=True)
        if not events:
            sys.exit("client.py: the streaming request sent no chunk")
        return self.prompt_tokens / (events[0][0] - t0)

    def decode(self):
        events = post(self.url, self.body(self.prompt(), self.gen_tokens, True), stream=True)
        times = [t for t, ev in events if ev.get("choices") and ev["choices"][0].get("text")]
        usage = next((ev["usage"] for _, ev in reversed(events) if ev.get("usage")), None)
        n = usage["completion_tokens"] if usage else len(times)
        if len(times) < 2:
            sys.exit(f"client.py: the decode request streamed {len(times)} text chunks")
        return {"tok_s": (n - 1) / (times[-1] - times[0]), "generated": n, "text_chunks": len(times),
                "usage_in_stream": usage is not None}

    def concurrent(self, k):
        results, errors = [None] * k, []
        prompts = [self.prompt() for _ in range(k)]
        barrier = threading.Barrier(k + 1)

        def worker(i):
            barrier.wait()
            try:
                results[i] = post(self.url, self.body(prompts[i], self.gen_tokens, False))
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(k)]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        if errors:
            sys.exit(f"client.py: {len(errors)} of {k} concurrent requests failed: {errors[0]}")
        total = sum(r["usage"]["completion_tokens"] for r in results)
        return {"tok_s": total / wall, "generated": total, "wall_s": wall}


def measure(args):
    base = args.url.rstrip("/")
    with urllib.request.urlopen(base + "/v1/models", timeout=60) as r:
        model = args.model or json.loads(r.read())["data"][0]["id"]
    b = Bench(base, model, args.prompt_tokens, args.gen_tokens)
    post(b.url, b.body(b.prompt(), 16, True), stream=True)  # warm-up of the streaming path
    runs = {"prefill": [], "decode": [], "concurrent": []}
    for i in range(args.runs):
        runs["prefill"].append(b.prefill())
        runs["decode"].append(b.decode())
        if args.concurrency > 0:
            runs["concurrent"].append(b.concurrent(args.concurrency))
        print(f"client.py: run {i + 1}/{args.runs}: prefill {runs['prefill'][-1]:.1f} tok/s, decode "
              f"{runs['decode'][-1]['tok_s']:.2f} tok/s"
              + (f", {args.concurrency}-way {runs['concurrent'][-1]['tok_s']:.2f} tok/s"
                 if runs["concurrent"] else ""), file=sys.stderr, flush=True)
    med = statistics.median
    out = {
        "label": args.label, "engine": args.engine, "model": args.model_label, "server_model": model,
        "prompt_tokens": b.prompt_tokens, "max_tokens": args.gen_tokens, "runs": args.runs,
        "statistic": "median",
        "prefill_tok_s": med(runs["prefill"]),
        "decode_tok_s": med(d["tok_s"] for d in runs["decode"]),
        "decode_generated": [d["generated"] for d in runs["decode"]],
        "concurrency": args.concurrency,
        "concurrent_tok_s": med(c["tok_s"] for c in runs["concurrent"]) if runs["concurrent"] else None,
        "all_runs": runs,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    try:
        out["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        pass
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


def table(args):
    rows = {}
    for f in sorted(Path(args.dir).glob("*.json")):
        r = json.loads(f.read_text())
        rows.setdefault(r["model"], {})[r["engine"]] = r
    if not rows:
        sys.exit(f"client.py: no result files in {args.dir}")
    metrics = [("prefill tok/s", "prefill_tok_s"), ("decode tok/s", "decode_tok_s"),
               ("8-way tok/s", "concurrent_tok_s")]
    fmt = "{:<22} {:<14} {:>10} {:>10} {:>12} {:>14} {:>16}"
    print(fmt.format("model", "metric", "r2l", "llama.cpp", "llama-server", "r2l/llama.cpp",
                     "r2l/llama-server"))
    num = lambda v: f"{v:.2f}" if v else "-"
    ratio = lambda a, b: f"{a / b:.2f}" if a and b else "-"
    for model, eng in rows.items():
        for name, key in metrics:
            a = eng.get("r2l", {}).get(key)
            b = eng.get("llamacpp", {}).get(key)
            c = eng.get("llamaserver", {}).get(key)
            print(fmt.format(model, name, num(a), num(b), num(c), ratio(a, b), ratio(a, c)))
    print("(median of runs; llama.cpp = llama-cpp-python's server, one request at a time; "
          "llama-server = llama.cpp's own server, -np 8, continuous batching; prompt tokens: "
          + ", ".join(f"{m} {next(iter(e.values()))['prompt_tokens']}" for m, e in rows.items()) + ")")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure", help="measure one running server")
    m.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8080")
    m.add_argument("--model", help="model id to send (default: the first of /v1/models)")
    m.add_argument("--engine", default="?", help="engine label for the table (r2l, llamacpp, llamaserver)")
    m.add_argument("--model-label", default="?", help="model label for the table")
    m.add_argument("--label", default="", help="free text kept in the JSON")
    m.add_argument("--runs", type=int, default=3)
    m.add_argument("--prompt-tokens", type=int, default=256)
    m.add_argument("--gen-tokens", type=int, default=128)
    m.add_argument("--concurrency", type=int, default=8, help="0 skips the concurrent measure")
    m.add_argument("--out", help="also write the JSON here")
    t = sub.add_parser("table", help="print the r2l vs llama.cpp table of a results folder")
    t.add_argument("dir")
    args = ap.parse_args()
    measure(args) if args.cmd == "measure" else table(args)


if __name__ == "__main__":
    main()
