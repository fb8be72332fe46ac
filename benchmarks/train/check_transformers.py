"""A student trained by `r2l train`, read by Hugging Face transformers: its logits on a prompt
must match the trainer's within 1e-4, and its greedy answer must equal the trainer's and
`r2l serve`'s. Offline: the checkpoint directory is all it reads.

The logits are compared with transformers run in float64 (the checkpoint's exact forward pass),
so the figure is the trainer's own f32 error; the f32-vs-f32 difference (two f32
implementations summing in different orders) is printed beside it.

    python check_transformers.py CHECKPOINT_DIR PREFIX SERVED_ANSWER_FILE

PREFIX.json / PREFIX.f32 are written by the `student_logits` binary (the trainer's side).
Exits 1 when a check fails.
"""

import json
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM


def main() -> int:
    directory, prefix, served_file = sys.argv[1:4]
    trainer = json.load(open(prefix + ".json"))
    ours = np.fromfile(prefix + ".f32", dtype="<f4").reshape(trainer["positions"], trainer["vocab"])
    served = open(served_file, encoding="utf-8").read()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, local_files_only=True)
    model.eval()
    ids = torch.tensor([trainer["ids"]])
    with torch.no_grad():
        theirs = model(ids).logits[0].float().numpy()
    diff_f32 = float(np.abs(theirs - ours).max())
    exact_model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float64, local_files_only=True)
    exact_model.eval()
    with torch.no_grad():
        exact = exact_model(ids).logits[0].numpy()
    diff = float(np.abs(exact - ours.astype(np.float64)).max())
    torch_f32_error = float(np.abs(exact - theirs.astype(np.float64)).max())
    with torch.no_grad():
        generated = model.generate(
            ids,
            max_new_tokens=len(trainer["greedy_ids"]),
            do_sample=False,
            eos_token_id=trainer["stop_ids"],
            pad_token_id=trainer["stop_ids"][0],
        )[0, ids.shape[1]:].tolist()
    greedy_ids_equal = generated == trainer["greedy_ids"]
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    text = tokenizer.decode(generated, skip_special_tokens=True)
    print(json.dumps({
        "transformers": __import__("transformers").__version__,
        "torch": torch.__version__,
        "positions": trainer["positions"],
        "max_abs_logit_diff_vs_float64": diff,
        "logits_within_1e-4": diff <= 1e-4,
        "max_abs_logit_diff_f32_vs_f32": diff_f32,
        "torch_f32_max_abs_error": torch_f32_error,
        "max_abs_logit": float(np.abs(exact).max()),
        "greedy_tokens_equal_trainer": greedy_ids_equal,
        "transformers_answer": text,
        "trainer_answer": trainer["greedy_text"],
        "served_answer": served,
        "answer_equals_served": text == served,
    }, ensure_ascii=False))
    return 0 if diff <= 1e-4 and greedy_ids_equal and text == served else 1


if __name__ == "__main__":
    sys.exit(main())
