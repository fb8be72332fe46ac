"""Tiny random-weight checkpoints of three architectures, written by Hugging Face transformers,
with transformers' own logits and greedy continuation of a fixed prompt.

`r2l serve` must load each directory and reproduce these numbers (serve's `architectures` test):
a checkpoint read the way transformers wrote it, config shape included, through the same config
normalisation as a real download. Each directory holds

- `config.json`, `generation_config.json`, `model.safetensors` (float32) as `save_pretrained`
  writes them (transformers 5 always writes safetensors);
- `tokenizer.json` (a 64-token WordLevel vocabulary in the SentencePiece shape, `▁word`, with
  specials `<pad>` `<s>` `</s>` `<unk>` at ids 0-3 and `<s>` prepended) and
  `tokenizer_config.json` (special tokens and a one-line chat template);
- `expected.json`: the 12 prompt ids (starting with `<s>`), transformers' logits of every prompt
  position computed in float64 from the saved checkpoint, the float32-vs-float64 difference of
  transformers itself (for the record), the 8 greedy continuation ids (float64, eos never reached)
  and the transformers / torch versions.

The models:

- `qwen3/`: Qwen3ForCausalLM (q/k RMS norms), 2 layers, GQA 4 query / 2 key-value heads.
- `mistral/`: MistralForCausalLM with `sliding_window=4`, so the 12-token prompt runs past it.
- `gemma3/`: Gemma3ForCausalLM (text only), 3 layers: two sliding-window layers (window 4, local
  RoPE base) and one full-attention layer, final-logit softcapping, `query_pre_attn_scalar`,
  tied embeddings. No attention-logit softcapping: Gemma 3 replaced it by the q/k norms, real
  Gemma 3 configs set it to null, and transformers' Gemma 3 attention ignores the key.

Every RoPE base is not the default one, and the script checks that the logits depend on each
config value a reader could lose (RoPE bases, sliding window, softcap: `MUST_MATTER`), printing by
how much they move without it.

transformers' initialisation sets every norm weight to 1 (or 0 for Gemma's `1 + w` norms),
which would hide a norm applied in the wrong place, or Gemma's `1 + w` read as `w`. So every
parameter, norm weights included, is overwritten with seeded random values, scaled
(1/sqrt(fan_in)) so the logits are neither tiny nor saturated. The script checks that greedy
decoding has a clear margin (top-1 minus top-2 logit at every prompt position and generated
step), so an f32 implementation cannot flip a token by rounding alone, and that the greedy
continuation has no special token and does not just repeat one token. Eager attention (the
plain reference implementation). Deterministic: running it twice writes identical files.

Regenerate (needs the train-bench venv, see venv.sh):

    bash benchmarks/train/tiny_architectures.sh
"""

import json
import os
import sys

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    MistralConfig,
    MistralForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

# one seed per architecture (weights and prompt), chosen so that the checks in `build` pass
SEEDS = {"qwen3": 3, "mistral": 0, "gemma3": 2}
PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
WORDS = (
    "system user assistant the a cat dog sat on mat red blue green big small fast slow "
    "room food staff price view good bad kind cold warm clean loud quiet hotel city "
    "river tree house car road sun moon star rain snow wind fire water stone bread milk "
    "tea book pen door key box yes no one two three four"
).split()
VOCAB = SPECIALS + WORDS  # ids; the tokenizer spells word i as "▁" + word
PROMPT_LEN = 12
NEW_TOKENS = 8
# top-1 minus top-2 logit, at every prompt position and greedy step, must be at least this: f32
# rounding in a correct implementation moves these logits by ~1e-5
MIN_MARGIN = 0.02
# a continuation that repeats one token would let a broken KV cache pass unnoticed
MIN_DISTINCT = 4
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }} {{ message['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}assistant{% endif %}"
)

SIZES = dict(
    hidden_size=16,
    intermediate_size=24,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=4,
    vocab_size=len(VOCAB),
    max_position_embeddings=64,
    rms_norm_eps=1e-6,
    pad_token_id=PAD,
    bos_token_id=BOS,
    eos_token_id=EOS,
)


def rope(theta: float) -> dict:
    return {"rope_type": "default", "rope_theta": theta}


def architectures():
    """(directory name, model class, config). The RoPE bases are not the defaults of
    transformers or mistral.rs (10000; Gemma 3: 1e6 full, 10000 sliding), so a reader that loses
    them computes other logits (see `MUST_MATTER`)."""
    return [
        (
            "qwen3",
            Qwen3ForCausalLM,
            Qwen3Config(num_hidden_layers=2, tie_word_embeddings=False, rope_parameters=rope(500.0), **SIZES),
        ),
        (
            "mistral",
            MistralForCausalLM,
            MistralConfig(
                num_hidden_layers=2,
                sliding_window=4,
                tie_word_embeddings=False,
                rope_parameters=rope(200.0),
                **SIZES,
            ),
        ),
        (
            "gemma3",
            Gemma3ForCausalLM,
            Gemma3TextConfig(
                num_hidden_layers=3,
                sliding_window=4,
                sliding_window_pattern=3,
                query_pre_attn_scalar=8,
                final_logit_softcapping=5.0,
                tie_word_embeddings=True,
                rope_parameters={"full_attention": rope(1000.0), "sliding_attention": rope(50.0)},
                **SIZES,
            ),
        ),
    ]


def _default_rope(config) -> None:
    config.rope_parameters = rope(10000.0)


def _default_gemma_ropes(config) -> None:
    config.rope_parameters = {"full_attention": rope(1e6), "sliding_attention": rope(10000.0)}


def _one_rope(config) -> None:
    full = config.rope_parameters["full_attention"]
    config.rope_parameters = {"full_attention": full, "sliding_attention": dict(full)}


def _no_window(config) -> None:
    # a window as long as the context never cuts
    config.sliding_window = config.max_position_embeddings


def _no_softcap(config) -> None:
    config.final_logit_softcapping = None


# Config values each fixture's logits must depend on: the logits with the value changed (to what
# a reader that lost it would use) must be at least MIN_EFFECT away, so a test comparing with
# these logits catches a config read wrong.
MUST_MATTER = {
    "qwen3": [("rope_theta", _default_rope)],
    "mistral": [("rope_theta", _default_rope), ("sliding_window", _no_window)],
    "gemma3": [
        ("rope_theta and the sliding layers' base", _default_gemma_ropes),
        ("the sliding layers' own RoPE base", _one_rope),
        ("sliding_window", _no_window),
        ("final_logit_softcapping", _no_softcap),
    ],
}
MIN_EFFECT = 0.1


def randomize(model, generator: torch.Generator) -> None:
    """Every parameter seeded random: matrices normal(0, 1.2 / sqrt(fan_in)), the output layer a
    wider normal(0, 2 / sqrt(fan_in)), norm weights 1 +- 0.3 (Gemma's norms scale by `1 + w`, so
    theirs average 2: the sublayer outputs then outweigh the embedding, which Gemma multiplies
    by sqrt(hidden) and ties to the output layer, and greedy decoding does not just repeat the
    last token), embeddings normal(0, 1) (Gemma's 0.15)."""
    gemma = model.config.model_type == "gemma3_text"
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float32)
            if parameter.dim() == 1:
                value = 1.0 + 0.3 * noise
            elif "embed_tokens" in name:
                value = 0.15 * noise if gemma else noise
            elif name == "lm_head.weight":
                value = 2.0 * noise / parameter.shape[1] ** 0.5
            else:
                value = 1.2 * noise / parameter.shape[1] ** 0.5
            parameter.copy_(value.to(parameter.dtype))


def write_tokenizer(directory: str) -> None:
    """A word-level tokenizer in the SentencePiece shape of Llama, Mistral and Gemma: words
    written `▁word`, spaces turned into `▁` (and one prepended), decoded by replacing `▁` with a
    space, byte fallback, and stripping the first space. mistral.rs 0.8.1 refuses to load a
    tokenizer whose decoder is neither byte-level nor byte-fallback (llguidance's token table,
    "can't determine decoder type")."""
    vocab = {word: i for i, word in enumerate(SPECIALS)}
    vocab.update({"\u2581" + word: len(SPECIALS) + i for i, word in enumerate(WORDS)})
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    tokenizer.add_special_tokens(SPECIALS)
    # encoding a text starts it with <s>, as Llama-style tokenizers do
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", BOS)]
    )
    tokenizer.save(os.path.join(directory, "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "add_eos_token": False,
        "model_max_length": 64,
        "chat_template": CHAT_TEMPLATE,
    }
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


def margins(logits: torch.Tensor) -> torch.Tensor:
    top = logits.topk(2, dim=-1).values
    return top[..., 0] - top[..., 1]


def rounded(value: float) -> float:
    return float(f"{value:.8g}")


def forward(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(ids).logits[0]


def build(out: str, name: str, cls, config) -> dict:
    directory = os.path.join(out, name)
    os.makedirs(directory, exist_ok=True)
    torch.manual_seed(SEEDS[name])
    generator = torch.Generator().manual_seed(SEEDS[name])
    config._attn_implementation = "eager"
    model = cls(config).to(torch.float32).eval()
    randomize(model, generator)
    model.save_pretrained(directory)
    write_tokenizer(directory)

    words = torch.randint(len(SPECIALS), len(VOCAB), (PROMPT_LEN - 1,), generator=generator)
    prompt = [BOS] + words.tolist()
    ids = torch.tensor([prompt])
    load = dict(local_files_only=True, attn_implementation="eager")
    exact_model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float64, **load).eval()
    f32_model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, **load).eval()
    exact = forward(exact_model, ids)
    f32_diff = (exact - forward(f32_model, ids).double()).abs().max().item()

    with torch.no_grad():
        out_ids = exact_model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=NEW_TOKENS,
            do_sample=False,
            output_logits=True,
            return_dict_in_generate=True,
            pad_token_id=PAD,
        )
    greedy = out_ids.sequences[0, PROMPT_LEN:].tolist()
    if len(greedy) != NEW_TOKENS or any(i < len(SPECIALS) for i in greedy):
        sys.exit(f"{name}: greedy continuation {greedy} has a special token; pick another seed")
    if len(set(greedy)) < MIN_DISTINCT:
        sys.exit(f"{name}: greedy continuation {greedy} repeats itself; pick another seed")
    step_logits = torch.stack([step[0] for step in out_ids.logits])
    margin = min(margins(exact).min().item(), margins(step_logits).min().item())
    if margin < MIN_MARGIN:
        sys.exit(f"{name}: top-1/top-2 logit margin {margin:.4g} < {MIN_MARGIN}; pick another seed")
    spread = exact.abs().max().item()

    effects = []
    for what, change in MUST_MATTER[name]:
        changed = AutoConfig.from_pretrained(directory)
        change(changed)
        other = AutoModelForCausalLM.from_pretrained(directory, config=changed, dtype=torch.float64, **load)
        effect = (forward(other, ids) - exact).abs().max().item()
        if effect < MIN_EFFECT:
            sys.exit(f"{name}: {what} changes the logits by only {effect:.3g}")
        effects.append(f"{what} {effect:.2g}")

    expected = {
        "ids": prompt,
        "logits": [[rounded(x) for x in row] for row in exact.tolist()],
        "logits_f32_max_diff": rounded(f32_diff),
        "greedy_ids": greedy,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }
    with open(os.path.join(directory, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")
    files = sorted(os.listdir(directory))
    size = sum(os.path.getsize(os.path.join(directory, f)) for f in files)
    print(
        f"{directory}: {', '.join(files)} ({size / 1024:.0f} KiB); greedy {greedy}; "
        f"min margin {margin:.3g}, max |logit| {spread:.3g}, f32 vs f64 {f32_diff:.2g}; "
        f"logits move without {', '.join(effects)}"
    )
    return expected


def main() -> int:
    if len(sys.argv) != 2:
        sys.exit("usage: tiny_architectures.py OUT_DIR")
    torch.use_deterministic_algorithms(True)
    for name, cls, config in architectures():
        build(sys.argv[1], name, cls, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
