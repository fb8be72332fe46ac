#!/usr/bin/env python3
"""Benchmark models for benchmarks/serve: a 1.5B-shaped random Llama, and Q8_0 GGUFs.

  random      Writes a Llama with random weights (normal, std 0.02, fixed seed; norms = 1)
              and SmolLM2's tokenizer, in two forms holding the same weights:
                OUT/random-1.5b/            checkpoint dir for `r2l serve` (F32 model.safetensors,
                                            config.json, tokenizer files from --tokenizer-dir)
                OUT/random-1.5b.Q8_0.gguf   GGUF for llama.cpp, Q8_0 (norms F32)
              Shape (default): hidden 2048, intermediate 5632, 30 layers, 32 heads, 4 KV heads
              (head dim 64), vocab 49152, untied LM head = 1,522,657,280 parameters.

  from-dir    Writes a Q8_0 GGUF of a Llama checkpoint directory (e.g. the `r2l convert`
              output of the default SmolLM2-135M), so llama.cpp can be compared with
              `r2l serve DIR --isq q8_0` at the same quantization.

GGUFs get llama.cpp's q/k row permutation (as convert_hf_to_gguf.py does) and the tokenizer
metadata (tokenizer.*) of --tokenizer-gguf. Tensors are generated/read, quantized and
written one at a time, so peak memory stays around a few times the largest tensor.
Needs numpy and gguf (pip install numpy gguf).
"""
import argparse
import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np

try:
    import gguf
except ImportError:
    sys.exit("make_random_model.py: the `gguf` package is missing (pip install gguf numpy)")

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "generation_config.json")
Q8 = gguf.GGMLQuantizationType.Q8_0


def llama_tensors(cfg):
    """(HF name, shape) of every tensor of a Llama checkpoint, in writing order."""
    h, inter, hd = cfg["hidden_size"], cfg["intermediate_size"], cfg["head_dim"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    out = [("model.embed_tokens.weight", (cfg["vocab_size"], h))]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out += [
            (p + "input_layernorm.weight", (h,)),
            (p + "self_attn.q_proj.weight", (q, h)),
            (p + "self_attn.k_proj.weight", (kv, h)),
            (p + "self_attn.v_proj.weight", (kv, h)),
            (p + "self_attn.o_proj.weight", (h, q)),
            (p + "post_attention_layernorm.weight", (h,)),
            (p + "mlp.gate_proj.weight", (inter, h)),
            (p + "mlp.up_proj.weight", (inter, h)),
            (p + "mlp.down_proj.weight", (h, inter)),
        ]
    out.append(("model.norm.weight", (h,)))
    if not cfg.get("tie_word_embeddings", False):
        out.append(("lm_head.weight", (cfg["vocab_size"], h)))
    return out


GGUF_NAMES = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def gguf_name(hf):
    top = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
           "lm_head.weight": "output.weight"}
    if hf in top:
        return top[hf]
    _, _, layer, rest = hf.split(".", 3)
    return f"blk.{layer}.{GGUF_NAMES[rest.removesuffix('.weight')]}.weight"


def permute(w, n_head, n_head_kv=None):
    """llama.cpp's q/k permutation (convert_hf_to_gguf.py LlamaModel.permute)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def to_gguf_array(hf, w, cfg):
    """HF tensor -> (GGUF array, byte shape, raw type): q/k permuted, matrices Q8_0, vectors F32."""
    if hf.endswith("q_proj.weight"):
        w = permute(w, cfg["num_attention_heads"], cfg["num_attention_heads"])
    elif hf.endswith("k_proj.weight"):
        w = permute(w, cfg["num_attention_heads"], cfg["num_key_value_heads"])
    if w.ndim == 1:
        return np.ascontiguousarray(w, dtype=np.float32), None
    return gguf.quants.quantize(np.ascontiguousarray(w, dtype=np.float32), Q8), Q8


def q8_nbytes(shape):
    rows, cols = (shape[0], shape[1]) if len(shape) == 2 else (1, shape[0])
    if cols % 32:
        sys.exit(f"make_random_model.py: row length {cols} is not a multiple of 32 (Q8_0 block)")
    return rows * (cols // 32) * 34


class GgufOut:
    """Streaming Llama GGUF writer: declare every tensor first, then write them in order."""

    def __init__(self, path, cfg, tensors, tokenizer_gguf, name):
        self.cfg, self.w = cfg, gguf.GGUFWriter(str(path), "llama")
        w = self.w
        w.add_name(name)
        w.add_context_length(cfg["max_position_embeddings"])
        w.add_embedding_length(cfg["hidden_size"])
        w.add_block_count(cfg["num_hidden_layers"])
        w.add_feed_forward_length(cfg["intermediate_size"])
        w.add_rope_dimension_count(cfg["head_dim"])
        w.add_head_count(cfg["num_attention_heads"])
        w.add_head_count_kv(cfg["num_key_value_heads"])
        w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
        w.add_rope_freq_base(cfg["rope_theta"])
        w.add_vocab_size(cfg["vocab_size"])
        w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
        copy_tokenizer_fields(tokenizer_gguf, w)
        for hf, shape in tensors:
            if len(shape) == 1:
                w.add_tensor_info(gguf_name(hf), shape, np.dtype(np.float32), 4 * shape[0])
            else:
                byte_shape = (shape[0], shape[1] // 32 * 34)
                w.add_tensor_info(gguf_name(hf), byte_shape, np.dtype(np.uint8), q8_nbytes(shape), raw_dtype=Q8)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_ti_data_to_file()

    def write(self, hf, array):
        data, _ = to_gguf_array(hf, array, self.cfg)
        self.w.write_tensor_data(data)

    def close(self):
        self.w.close()


def copy_tokenizer_fields(src_path, writer):
    reader = gguf.GGUFReader(str(src_path))
    n = 0
    for name, field in reader.fields.items():
        if not name.startswith("tokenizer."):
            continue
        vtype = gguf.GGUFValueType(field.types[0])
        sub = gguf.GGUFValueType(field.types[-1]) if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), vtype, sub_type=sub)
        n += 1
    if n == 0:
        sys.exit(f"make_random_model.py: {src_path} has no tokenizer.* metadata")


class SafetensorsOut:
    """Streaming F32 safetensors writer: the header is known up front from the shapes."""

    def __init__(self, path, tensors):
        header, offset = {}, 0
        for name, shape in tensors:
            size = 4 * int(np.prod(shape))
            header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
            offset += size
        header["__metadata__"] = {"format": "pt"}
        blob = json.dumps(header, separators=(",", ":")).encode()
        blob += b" " * (-len(blob) % 8)
        self.f = open(path, "wb")
        self.f.write(struct.pack("<Q", len(blob)) + blob)

    def write(self, array):
        np.ascontiguousarray(array, dtype=np.float32).tofile(self.f)

    def close(self):
        self.f.close()


def read_safetensors(path):
    """{name: (dtype, shape, memmap view)} of an F32/F16/BF16 safetensors file, without copying."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        chunk = raw[a:b]
        if info["dtype"] == "F32":
            arr = chunk.view(np.float32)
        elif info["dtype"] == "F16":
            arr = chunk.view(np.float16)
        elif info["dtype"] == "BF16":
            arr = (chunk.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            sys.exit(f"make_random_model.py: {path}: {name} has dtype {info['dtype']}, not F32/F16/BF16")
        out[name] = arr.reshape(info["shape"])
    return out


def cmd_random(args):
    cfg = json.loads((Path(args.tokenizer_dir) / "config.json").read_text())
    cfg.update({
        "hidden_size": args.hidden, "intermediate_size": args.intermediate,
        "num_hidden_layers": args.layers, "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads, "head_dim": args.hidden // args.heads,
        "tie_word_embeddings": False, "torch_dtype": "float32",
    })
    tensors = llama_tensors(cfg)
    params = sum(int(np.prod(s)) for _, s in tensors)
    out = Path(args.out)
    ckpt, gguf_path = out / "random-1.5b", out / "random-1.5b.Q8_0.gguf"
    done = ckpt / ".complete"
    if done.is_file() and gguf_path.is_file() and done.read_text().strip() == str(params):
        print(f"make_random_model.py: {ckpt} and {gguf_path} exist ({params:,} parameters); nothing to do")
        return
    ckpt.mkdir(parents=True, exist_ok=True)
    done.unlink(missing_ok=True)
    for name in TOKENIZER_FILES:
        src = Path(args.tokenizer_dir) / name
        if not src.is_file():
            sys.exit(f"make_random_model.py: {src} is missing (need a converted SmolLM2 checkpoint dir)")
        shutil.copy(src, ckpt / name)
    (ckpt / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    print(f"make_random_model.py: {params:,} parameters, {len(tensors)} tensors -> {ckpt}, {gguf_path}",
          flush=True)
    st = SafetensorsOut(ckpt / "model.safetensors", tensors)
    gg = GgufOut(gguf_path, cfg, tensors, args.tokenizer_gguf, f"random-llama-{params / 1e9:.2f}B")
    for idx, (name, shape) in enumerate(tensors):
        if len(shape) == 1:
            w = np.ones(shape, dtype=np.float32)
        else:
            rng = np.random.default_rng([args.seed, idx])
            w = rng.standard_normal(shape, dtype=np.float32)
            w *= np.float32(args.std)
        st.write(w)
        gg.write(name, w)
        if idx % 20 == 0:
            print(f"  {idx + 1}/{len(tensors)} {name}", flush=True)
        del w
    st.close()
    gg.close()
    done.write_text(f"{params}\n")
    print("make_random_model.py: done")


def cmd_from_dir(args):
    src = Path(args.dir)
    cfg = json.loads((src / "config.json").read_text())
    cfg.setdefault("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
    weights = read_safetensors(src / "model.safetensors")
    tensors = llama_tensors(cfg)
    missing = [n for n, _ in tensors if n not in weights]
    if missing:
        sys.exit(f"make_random_model.py: {src}/model.safetensors lacks {missing[:3]} (not a Llama checkpoint?)")
    out = Path(args.out)
    tmp = out.with_suffix(".partial")
    gg = GgufOut(tmp, cfg, tensors, args.tokenizer_gguf, src.name + "-Q8_0")
    for name, shape in tensors:
        if tuple(weights[name].shape) != tuple(shape):
            sys.exit(f"make_random_model.py: {name} has shape {weights[name].shape}, config says {shape}")
        gg.write(name, np.asarray(weights[name], dtype=np.float32))
    gg.close()
    tmp.rename(out)
    print(f"make_random_model.py: {out} ({sum(int(np.prod(s)) for _, s in tensors):,} parameters, Q8_0)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("random", help="1.5B-shaped random Llama: checkpoint dir + Q8_0 GGUF")
    r.add_argument("--tokenizer-dir", required=True, help="converted SmolLM2 dir (config/tokenizer files)")
    r.add_argument("--tokenizer-gguf", required=True, help="SmolLM2 GGUF (tokenizer.* metadata)")
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--hidden", type=int, default=2048)
    r.add_argument("--intermediate", type=int, default=5632)
    r.add_argument("--layers", type=int, default=30)
    r.add_argument("--heads", type=int, default=32)
    r.add_argument("--kv-heads", type=int, default=4)
    r.add_argument("--std", type=float, default=0.02)
    r.add_argument("--seed", type=int, default=1234)
    f = sub.add_parser("from-dir", help="Q8_0 GGUF of a Llama checkpoint dir")
    f.add_argument("dir", help="checkpoint dir with config.json and model.safetensors")
    f.add_argument("--tokenizer-gguf", required=True, help="GGUF whose tokenizer.* metadata to copy")
    f.add_argument("--out", required=True, help="output .gguf path")
    args = ap.parse_args()
    cmd_random(args) if args.cmd == "random" else cmd_from_dir(args)


if __name__ == "__main__":
    main()
