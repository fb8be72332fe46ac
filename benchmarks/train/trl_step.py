"""TRL's side of the PRM and GRPO step benchmark (trl_compare.sh): TRL's own trainers on the
same inputs as `r2l train prm|grpo`, f32 on the CPU, every weight trained, no gradient
checkpointing. Prints one JSON line: the seconds of every optimizer step (a callback around
each), their median without the first, and (GRPO) the completion tokens per step.

    python trl_step.py prm  CHECKPOINT_DIR THREADS STEPWISE.jsonl BATCH STEPS
    python trl_step.py grpo CHECKPOINT_DIR THREADS PROMPTS.jsonl GROUP STEPS MAX_NEW

PRM: `trl.experimental.prm.PRMTrainer` (TRL's tokenisation, separator "\\n") on a 2-label
token-classification head, AgentArk's settings (lr 1e-4, weight decay 0.1, Adam beta2 0.95).
GRPO: `trl.GRPOTrainer`, one prompt's group of GROUP answers per step (temperature 0.5, top_p 1,
at most MAX_NEW tokens, beta 0.001, lr 5e-7), the reward whether the last number of the answer
equals the gold one; PROMPTS is an `r2l data sft` file (messages, the gold answer last).
"""

import contextlib
import json
import re
import resource
import statistics
import sys
import tempfile
import time

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoModelForTokenClassification, AutoTokenizer, TrainerCallback


class StepTimer(TrainerCallback):
    """Wall time of every optimizer step (generation included for GRPO)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.started = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.seconds.append(time.perf_counter() - self.started)


def common(output_dir: str, steps: int) -> dict:
    return dict(
        output_dir=output_dir,
        max_steps=steps,
        use_cpu=True,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        dataloader_num_workers=0,
        seed=0,
        lr_scheduler_type="constant",
        warmup_steps=0,
    )


def last_number(text: str) -> str | None:
    numbers = re.findall(r"-?\d[\d,]*\.?\d*", text)
    return numbers[-1].replace(",", "").rstrip(".") if numbers else None


def run_prm(directory: str, data: str, batch: int, steps: int, out: str) -> dict:
    from trl.experimental.prm import PRMConfig, PRMTrainer

    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    model = AutoModelForTokenClassification.from_pretrained(
        directory, num_labels=2, dtype=torch.float32, local_files_only=True
    )
    model.config.pad_token_id = tokenizer.pad_token_id or tokenizer.eos_token_id
    rows = [json.loads(line) for line in open(data, encoding="utf-8") if line.strip()]
    rows = [r for r in rows if any(r["labels"]) and not all(r["labels"])]
    dataset = Dataset.from_list(
        [{"prompt": r["prompt"], "completions": r["completions"], "labels": [bool(x) for x in r["labels"]]} for r in rows]
    )
    args = PRMConfig(
        per_device_train_batch_size=batch,
        learning_rate=1e-4,
        weight_decay=0.1,
        adam_beta2=0.95,
        max_length=1024,
        **common(out, steps),
    )
    timer = StepTimer()
    trainer = PRMTrainer(model=model, args=args, processing_class=tokenizer, train_dataset=dataset, callbacks=[timer])
    trainer.train()
    return {"rows": len(rows), "seconds": timer.seconds}


def run_grpo(directory: str, data: str, group: int, steps: int, max_new: int, out: str) -> dict:
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, local_files_only=True)
    records = [json.loads(line)["messages"] for line in open(data, encoding="utf-8") if line.strip()]
    dataset = Dataset.from_list(
        [
            {"prompt": [m for m in r if m["role"] != "assistant"], "gold": last_number(r[-1]["content"]) or ""}
            for r in records
        ]
    )
    lengths: list[int] = []

    def verifiable(completions, gold, **kwargs):
        rewards = []
        for completion, answer in zip(completions, gold):
            text = completion[-1]["content"] if isinstance(completion, list) else completion
            lengths.append(len(tokenizer(text)["input_ids"]))
            rewards.append(1.0 if last_number(text) == answer else -1.0)
        return rewards

    args = GRPOConfig(
        per_device_train_batch_size=group,
        num_generations=group,
        max_completion_length=max_new,
        temperature=0.5,
        top_p=1.0,
        beta=0.001,
        learning_rate=5e-7,
        shuffle_dataset=False,
        **common(out, steps),
    )
    timer = StepTimer()
    trainer = GRPOTrainer(
        model=model, reward_funcs=verifiable, args=args, train_dataset=dataset, processing_class=tokenizer,
        callbacks=[timer],
    )
    trainer.train()
    per_step = [sum(lengths[i * group:(i + 1) * group]) for i in range(len(timer.seconds))]
    return {"seconds": timer.seconds, "completion_tokens": per_step}


def main() -> None:
    mode, directory, threads, data = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    # The trainers print their log dicts to stdout: keep stdout for the one JSON line.
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(sys.stderr):
        if mode == "prm":
            result = run_prm(directory, data, int(sys.argv[5]), int(sys.argv[6]), out)
        else:
            result = run_grpo(directory, data, int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), out)
    seconds = result["seconds"]
    result.update(
        engine="trl",
        mode=mode,
        threads=threads,
        median_s_per_step=statistics.median(seconds[1:] or seconds),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
