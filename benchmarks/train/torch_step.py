"""The PyTorch side of the trainer benchmark: the same SFT step as `train_step` (batch x seq
pseudo-random token ids from the same generator, labels = input ids, AdamW, gradient clipping
at 1.0), with transformers (+ peft for LoRA: rank r, alpha 2r, no dropout, every projection of
the decoder blocks). Prints one JSON line: median s/step of the timed steps, tokens/s, peak RSS.

    python torch_step.py CHECKPOINT_DIR full|lora THREADS [batch] [seq] [steps] [rank]
"""

import json
import resource
import sys
import time

import torch
from transformers import AutoModelForCausalLM


def token_ids(batch: int, seq: int, vocab: int) -> torch.Tensor:
    """The linear congruential stream of `train_step`."""
    state = 0x2545F4914F6CDD1D
    mask = (1 << 64) - 1
    rows = []
    for _ in range(batch):
        row = []
        for _ in range(seq):
            state = (state * 6364136223846793005 + 1) & mask
            row.append((state >> 33) % vocab)
        rows.append(row)
    return torch.tensor(rows)


def main() -> None:
    directory, mode, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    batch, seq, steps, rank = (int(a) for a in (sys.argv[4:8] + ["4", "256", "3", "16"][len(sys.argv[4:8]):]))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, local_files_only=True)
    if mode == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(
            r=rank, lora_alpha=2 * rank, lora_dropout=0.0, task_type="CAUSAL_LM",
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        ))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0)
    ids = token_ids(batch, seq, model.config.vocab_size)
    times, loss = [], None
    for step in range(steps + 1):
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if step > 0:
            times.append(time.perf_counter() - started)
        loss = out.loss.item()
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps({
        "engine": f"pytorch {torch.__version__} + transformers",
        "mode": mode, "batch": batch, "seq": seq, "threads": threads,
        "s_per_step": median, "steps_s": times, "tokens_per_s": batch * seq / median,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "loss": loss,
    }))


if __name__ == "__main__":
    main()
