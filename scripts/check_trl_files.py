"""Checks that r2l distill's training files load unchanged with Hugging Face `datasets` (offline)
and carry TRL's column names and types.

usage: python check_trl_files.py DIR   (DIR holds sft.jsonl, dpo.jsonl, stepwise.jsonl)
Prints one JSON line with the row counts; exits 1 with a message naming the file on a mismatch.
"""

import json
import os
import sys

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import datasets  # noqa: E402

ROLES = {"system", "user", "assistant"}


def fail(name, message):
    print(f"{name}: {message}", file=sys.stderr)
    sys.exit(1)


def load(directory, name):
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        fail(name, "missing")
    if os.path.getsize(path) == 0:
        return None
    return datasets.load_dataset("json", data_files=path, split="train")


def check_messages(name, column, turns, last_role=None):
    if not isinstance(turns, list) or not turns:
        fail(name, f"`{column}` must be a non-empty list of messages, got {turns!r}")
    for turn in turns:
        if set(turn) != {"role", "content"} or turn["role"] not in ROLES:
            fail(name, f"`{column}` holds a turn that is not {{role, content}}: {turn!r}")
        if not isinstance(turn["content"], str):
            fail(name, f"`{column}` content must be text: {turn!r}")
    if last_role and turns[-1]["role"] != last_role:
        fail(name, f"`{column}` must end with an {last_role} turn")


def main():
    directory = sys.argv[1]
    counts = {}
    sft = load(directory, "sft.jsonl")
    if sft is not None:
        if "messages" not in sft.column_names:
            fail("sft.jsonl", f"no `messages` column: {sft.column_names}")
        for row in sft:
            check_messages("sft.jsonl", "messages", row["messages"], "assistant")
    counts["sft"] = 0 if sft is None else len(sft)
    dpo = load(directory, "dpo.jsonl")
    if dpo is not None:
        for column in ("prompt", "chosen", "rejected"):
            if column not in dpo.column_names:
                fail("dpo.jsonl", f"no `{column}` column: {dpo.column_names}")
        for row in dpo:
            check_messages("dpo.jsonl", "prompt", row["prompt"], "user")
            check_messages("dpo.jsonl", "chosen", row["chosen"], "assistant")
            check_messages("dpo.jsonl", "rejected", row["rejected"], "assistant")
            if row["chosen"] == row["rejected"]:
                fail("dpo.jsonl", "a pair whose chosen equals its rejected")
    counts["dpo"] = 0 if dpo is None else len(dpo)
    stepwise = load(directory, "stepwise.jsonl")
    if stepwise is not None:
        for column in ("prompt", "completions", "labels"):
            if column not in stepwise.column_names:
                fail("stepwise.jsonl", f"no `{column}` column: {stepwise.column_names}")
        for row in stepwise:
            if not isinstance(row["prompt"], str):
                fail("stepwise.jsonl", "`prompt` must be text")
            completions, labels = row["completions"], row["labels"]
            if len(completions) != len(labels) or not completions:
                fail("stepwise.jsonl", "`completions` and `labels` must have the same, non-zero length")
            if not all(isinstance(c, str) for c in completions):
                fail("stepwise.jsonl", "`completions` must be text")
            if not all(isinstance(label, bool) for label in labels):
                fail("stepwise.jsonl", "`labels` must be booleans")
    counts["stepwise"] = 0 if stepwise is None else len(stepwise)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
