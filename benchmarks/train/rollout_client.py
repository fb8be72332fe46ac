"""Sends each prompt of an SFT records file (its messages without the assistant turn) GROUP
times to an OpenAI-compatible server, one request at a time, sampling as the GRPO trainer does
(temperature 0.5, top_p 1, at most MAX_NEW tokens, a seed per answer); prints one JSON line with
the completion tokens and their rate over the wall time.

usage: rollout_client.py BASE_URL RECORDS GROUP MAX_NEW ENGINE THREADS
"""

import json
import sys
import time

from openai import OpenAI


def main() -> None:
    base_url, records, group, max_new, engine, threads = sys.argv[1:7]
    client = OpenAI(base_url=base_url, api_key="none", timeout=900)
    model = client.models.list().data[0].id
    prompts = []
    with open(records, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                messages = json.loads(line)["messages"]
                prompts.append([m for m in messages if m["role"] != "assistant"])
    tokens = answers = 0
    started = time.perf_counter()
    for messages in prompts:
        for g in range(int(group)):
            reply = client.chat.completions.create(
                model=model,
                messages=messages,
                temperature=0.5,
                top_p=1.0,
                max_tokens=int(max_new),
                seed=g,
            )
            tokens += reply.usage.completion_tokens
            answers += 1
    seconds = time.perf_counter() - started
    print(json.dumps({"engine": engine, "threads": int(threads), "answers": answers, "tokens": tokens,
                      "seconds": seconds, "tokens_per_s": tokens / seconds}))


if __name__ == "__main__":
    main()
