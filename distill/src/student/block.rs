//! One decoder block: `x + attn(norm(x))`, then `h + mlp(norm(h))`; Gemma 3 also normalises
//! each branch's output before adding it (`x + norm(attn(norm(x)))`).

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::attention::{self, Heads, Span};
use super::config::{Activation, Config};
use super::grads::Grads;
use super::linear::{Linear, LinearCache, Pass};
use super::lora::LoraConfig;
use super::norm::{NormCache, RmsNorm};
use super::rope::Rope;
use super::swiglu;
use super::tensor::{modify, tensor, view};

/// A decoder block with its query/key/value and gate/up projections fused.
#[derive(Debug, Clone)]
pub struct Block {
    /// Norm before attention.
    pub input_norm: RmsNorm,
    /// Query, key and value projections.
    pub qkv: Linear,
    /// Qwen3, Gemma 3: the norms of each query head and each key head, before RoPE.
    pub qk_norms: Option<[RmsNorm; 2]>,
    /// Attention output projection.
    pub o_proj: Linear,
    /// Gemma 3: the norm of the attention branch's output (its `post_attention_layernorm`).
    pub attn_out_norm: Option<RmsNorm>,
    /// Norm before the MLP (Gemma 3's `pre_feedforward_layernorm`).
    pub post_norm: RmsNorm,
    /// Gate and up projections.
    pub gate_up: Linear,
    /// Down projection.
    pub down: Linear,
    /// Gemma 3: the norm of the MLP branch's output (`post_feedforward_layernorm`).
    pub mlp_out_norm: Option<RmsNorm>,
    /// Whether the block attends through the sliding window (and so, for Gemma 3, rotates by
    /// the local RoPE base).
    pub sliding: bool,
    heads: Heads,
    activation: Activation,
}

/// Activations the backward pass needs.
#[derive(Debug)]
pub struct BlockCache {
    norm1: NormCache,
    qkv: LinearCache,
    qk_norms: Option<[NormCache; 2]>,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    lse: Vec<Vec<f32>>,
    attn: Tensor,
    o: LinearCache,
    attn_out_norm: Option<NormCache>,
    norm2: NormCache,
    gate_up: LinearCache,
    gu: Tensor,
    down: LinearCache,
    mlp_out_norm: Option<NormCache>,
}

/// Keys and values of the tokens seen so far by one block (inference).
#[derive(Debug, Clone, Default)]
pub struct LayerCache {
    keys: Vec<f32>,
    values: Vec<f32>,
}

impl Block {
    /// Loads block `layer` from `vb` (`model.layers.{layer}`); `lora` adds adapters.
    pub fn new(
        cfg: &Config,
        vb: VarBuilder,
        layer: usize,
        lora: Option<&LoraConfig>,
        seed: u64,
    ) -> Result<Block> {
        let prefix = format!("model.layers.{layer}");
        let h = cfg.hidden_size;
        let attn_vb = vb.pp("self_attn");
        let mlp_vb = vb.pp("mlp");
        let seed = seed.wrapping_mul(1_000_003).wrapping_add(layer as u64 * 4);
        let gemma = cfg.architecture == checkpoint::Architecture::Gemma3;
        let shift = cfg.norm_shift();
        let norm = |width: usize, vb: VarBuilder| RmsNorm::new(width, cfg.rms_norm_eps, shift, vb);
        let qk_norms = match cfg.architecture.qk_norm() {
            true => Some([
                norm(cfg.head_dim, attn_vb.pp("q_norm"))?,
                norm(cfg.head_dim, attn_vb.pp("k_norm"))?,
            ]),
            false => None,
        };
        let sliding = cfg.is_sliding(layer);
        Ok(Block {
            input_norm: norm(h, vb.pp("input_layernorm"))?,
            qkv: Linear::fused(
                &attn_vb,
                &format!("{prefix}.self_attn"),
                &["q_proj", "k_proj", "v_proj"],
                &[cfg.q_width(), cfg.kv_width(), cfg.kv_width()],
                h,
                cfg.qkv_bias,
                lora,
                seed,
            )?,
            qk_norms,
            o_proj: Linear::fused(
                &attn_vb,
                &format!("{prefix}.self_attn"),
                &["o_proj"],
                &[h],
                cfg.q_width(),
                cfg.o_bias,
                lora,
                seed + 1,
            )?,
            attn_out_norm: match gemma {
                true => Some(norm(h, vb.pp("post_attention_layernorm"))?),
                false => None,
            },
            post_norm: match gemma {
                true => norm(h, vb.pp("pre_feedforward_layernorm"))?,
                false => norm(h, vb.pp("post_attention_layernorm"))?,
            },
            gate_up: Linear::fused(
                &mlp_vb,
                &format!("{prefix}.mlp"),
                &["gate_proj", "up_proj"],
                &[cfg.intermediate_size, cfg.intermediate_size],
                h,
                cfg.mlp_bias,
                lora,
                seed + 2,
            )?,
            down: Linear::fused(
                &mlp_vb,
                &format!("{prefix}.mlp"),
                &["down_proj"],
                &[h],
                cfg.intermediate_size,
                cfg.mlp_bias,
                lora,
                seed + 3,
            )?,
            mlp_out_norm: match gemma {
                true => Some(norm(h, vb.pp("post_feedforward_layernorm"))?),
                false => None,
            },
            sliding,
            heads: Heads {
                scale: cfg.attention_scale as f32,
                window: cfg.sliding_window.filter(|_| sliding),
                ..Heads::new(cfg.num_heads, cfg.num_kv_heads, cfg.head_dim)
            },
            activation: cfg.activation,
        })
    }

    /// The block's norms under their Hugging Face names (relative to `model.layers.{i}`).
    pub fn norms(&self) -> Vec<(&'static str, &RmsNorm)> {
        let mut out = vec![("input_layernorm", &self.input_norm)];
        if let Some([q, k]) = &self.qk_norms {
            out.push(("self_attn.q_norm", q));
            out.push(("self_attn.k_norm", k));
        }
        match (&self.attn_out_norm, &self.mlp_out_norm) {
            (Some(attn), Some(mlp)) => out.extend([
                ("post_attention_layernorm", attn),
                ("pre_feedforward_layernorm", &self.post_norm),
                ("post_feedforward_layernorm", mlp),
            ]),
            _ => out.push(("post_attention_layernorm", &self.post_norm)),
        }
        out
    }

    /// The linear projections of the block.
    pub fn linears(&self) -> [&Linear; 4] {
        [&self.qkv, &self.o_proj, &self.gate_up, &self.down]
    }

    /// Splits the fused query/key/value rows, normalises the query and key heads (Qwen3,
    /// Gemma 3) and rotates queries and keys by `positions`.
    fn split_rotate(
        &self,
        qkv: &Tensor,
        positions: &[usize],
        rope: &Rope,
    ) -> Result<([Tensor; 3], Option<[NormCache; 2]>)> {
        let (qw, kw) = (
            self.heads.q * self.heads.dim,
            self.heads.kv * self.heads.dim,
        );
        // Column slices of the fused output: copies, except for a single row (an offset view
        // into `qkv`, a temporary of the caller's, so rotating it in place is harmless).
        let mut q = qkv.narrow(1, 0, qw)?.contiguous()?;
        let mut k = qkv.narrow(1, qw, kw)?.contiguous()?;
        let v = qkv.narrow(1, qw + kw, kw)?.contiguous()?;
        let mut caches = None;
        if let Some([q_norm, k_norm]) = &self.qk_norms {
            let (qn, q_cache) = q_norm.forward_pieces(&q, self.heads.dim)?;
            let (kn, k_cache) = k_norm.forward_pieces(&k, self.heads.dim)?;
            (q, k) = (qn, kn);
            caches = Some([q_cache, k_cache]);
        }
        for (t, width) in [(&q, qw), (&k, kw)] {
            modify(t, |data| rope.rotate(data, width, positions, false))?;
        }
        Ok(([q, k, v], caches))
    }

    /// The attention branch's output projection, normalised when the model says so; then the
    /// residual sum.
    fn attention_out(&self, x: &Tensor, attn: &Tensor, pass: Pass) -> Result<BranchOut> {
        let (o_out, o) = self.o_proj.forward(attn, pass)?;
        let (o_out, norm) = out_norm(&self.attn_out_norm, o_out)?;
        Ok(((x + o_out)?, o, norm))
    }

    /// The MLP branch on the residual stream `mid`, then the residual sum.
    fn mlp(&self, mid: &Tensor, pass: Pass) -> Result<(Tensor, MlpCache)> {
        let (normed, norm2) = self.post_norm.forward(mid)?;
        let (gu, gate_up) = self.gate_up.forward(&normed, pass)?;
        drop(normed);
        let act = swiglu::forward(&gu, self.activation)?;
        let (down_out, down) = self.down.forward(&act, pass)?;
        let (down_out, mlp_out_norm) = out_norm(&self.mlp_out_norm, down_out)?;
        Ok((
            (mid + down_out)?,
            MlpCache {
                norm2,
                gate_up,
                gu,
                down,
                mlp_out_norm,
            },
        ))
    }

    /// The training forward pass over packed sequences `spans` (each attending to itself).
    pub fn forward(
        &self,
        x: &Tensor,
        spans: &[Span],
        positions: &[usize],
        rope: &Rope,
        pass: Pass,
    ) -> Result<(Tensor, BlockCache)> {
        let (normed, norm1) = self.input_norm.forward(x)?;
        let (qkv_out, qkv) = self.qkv.forward(&normed, pass)?;
        drop(normed);
        let ([q, k, v], qk_norms) = self.split_rotate(&qkv_out, positions, rope)?;
        drop(qkv_out);
        let (attn, lse) = attention::forward(&q, &k, &v, spans, self.heads)?;
        let (mid, o, attn_out_norm) = self.attention_out(x, &attn, pass)?;
        let (out, mlp) = self.mlp(&mid, pass)?;
        Ok((
            out,
            BlockCache {
                norm1,
                qkv,
                qk_norms,
                q,
                k,
                v,
                lse,
                attn,
                o,
                attn_out_norm,
                norm2: mlp.norm2,
                gate_up: mlp.gate_up,
                gu: mlp.gu,
                down: mlp.down,
                mlp_out_norm: mlp.mlp_out_norm,
            },
        ))
    }

    /// The input gradient given the output gradient `dy`; accumulates the trained tensors'
    /// gradients into `grads`.
    pub fn backward(
        &self,
        cache: BlockCache,
        dy: &Tensor,
        spans: &[Span],
        positions: &[usize],
        rope: &Rope,
        grads: &mut Grads,
    ) -> Result<Tensor> {
        let need = |t: Option<Tensor>| {
            t.ok_or_else(|| candle_core::Error::Msg("missing input gradient".into()))
        };
        // MLP branch.
        let d_down = out_norm_backward(&self.mlp_out_norm, &cache.mlp_out_norm, dy, grads)?;
        let d_act = need(self.down.backward(&cache.down, &d_down, grads, true)?)?;
        drop(d_down);
        let d_gu = swiglu::backward(&cache.gu, &d_act, self.activation)?;
        drop(d_act);
        let d_normed = need(self.gate_up.backward(&cache.gate_up, &d_gu, grads, true)?)?;
        drop(d_gu);
        let d_mid = self.post_norm.backward(&cache.norm2, &d_normed, grads)?;
        drop(d_normed);
        let d_mid = add_into(d_mid, dy)?;
        // Attention branch.
        let d_o = out_norm_backward(&self.attn_out_norm, &cache.attn_out_norm, &d_mid, grads)?;
        let d_attn = need(self.o_proj.backward(&cache.o, &d_o, grads, true)?)?;
        drop(d_o);
        let (dq, dk, dv) = attention::backward(
            &cache.q,
            &cache.k,
            &cache.v,
            &cache.attn,
            &cache.lse,
            &d_attn,
            spans,
            self.heads,
        )?;
        drop(d_attn);
        let (qw, kw) = (
            self.heads.q * self.heads.dim,
            self.heads.kv * self.heads.dim,
        );
        for (t, width) in [(&dq, qw), (&dk, kw)] {
            modify(t, |data| rope.rotate(data, width, positions, true))?;
        }
        let (dq, dk) = match (&self.qk_norms, &cache.qk_norms) {
            (Some([q_norm, k_norm]), Some([q_cache, k_cache])) => (
                q_norm.backward_pieces(q_cache, &dq, self.heads.dim, grads)?,
                k_norm.backward_pieces(k_cache, &dk, self.heads.dim, grads)?,
            ),
            _ => (dq, dk),
        };
        let d_qkv = Tensor::cat(&[&dq, &dk, &dv], 1)?;
        drop((dq, dk, dv));
        let d_normed = need(self.qkv.backward(&cache.qkv, &d_qkv, grads, true)?)?;
        drop(d_qkv);
        let dx = self.input_norm.backward(&cache.norm1, &d_normed, grads)?;
        add_into(dx, &d_mid)
    }

    /// Inference on the new rows `x` of several sequences at `positions`: the first
    /// `counts[0]` rows continue `caches[0]`, the next `counts[1]` rows `caches[1]`, and so on
    /// (each cache grows by its rows). The projections see every row at once, so a group of
    /// sequences decoding together reads each weight once per step; attention stays within
    /// each sequence.
    pub fn forward_cached(
        &self,
        x: &Tensor,
        positions: &[usize],
        rope: &Rope,
        caches: &mut [&mut LayerCache],
        counts: &[usize],
    ) -> Result<Tensor> {
        let (normed, _) = self.input_norm.forward(x)?;
        let (qkv_out, _) = self.qkv.forward(&normed, Pass::EVAL)?;
        let ([q, k, v], _) = self.split_rotate(&qkv_out, positions, rope)?;
        let kw = self.heads.kv * self.heads.dim;
        {
            let (k, v) = (view(&k)?, view(&v)?);
            let mut row = 0;
            for (cache, &n) in caches.iter_mut().zip(counts) {
                cache
                    .keys
                    .extend_from_slice(&k.slice()[row * kw..(row + n) * kw]);
                cache
                    .values
                    .extend_from_slice(&v.slice()[row * kw..(row + n) * kw]);
                row += n;
            }
        }
        let attn = if counts.iter().all(|&n| n == 1) {
            // Decoding: one query per sequence, straight from the caches.
            let slices: Vec<(&[f32], &[f32])> = caches
                .iter()
                .map(|c| (c.keys.as_slice(), c.values.as_slice()))
                .collect();
            let out = attention::decode(view(&q)?.slice(), &slices, self.heads);
            tensor(out, (counts.len(), self.heads.q * self.heads.dim))?
        } else {
            let (mut keys, mut values, mut spans) = (Vec::new(), Vec::new(), Vec::new());
            let mut row = 0;
            for (cache, &n) in caches.iter().zip(counts) {
                spans.push(Span {
                    q_start: row,
                    q_len: n,
                    k_start: keys.len() / kw,
                    k_len: cache.keys.len() / kw,
                });
                keys.extend_from_slice(&cache.keys);
                values.extend_from_slice(&cache.values);
                row += n;
            }
            let total = keys.len() / kw;
            let keys = tensor(keys, (total, kw))?;
            let values = tensor(values, (total, kw))?;
            attention::forward(&q, &keys, &values, &spans, self.heads)?.0
        };
        let (mid, _, _) = self.attention_out(x, &attn, Pass::EVAL)?;
        Ok(self.mlp(&mid, Pass::EVAL)?.0)
    }
}

/// A branch's residual sum, its output projection's cache and its output norm's cache.
type BranchOut = (Tensor, LinearCache, Option<NormCache>);

/// What the MLP branch's backward pass needs.
struct MlpCache {
    norm2: NormCache,
    gate_up: LinearCache,
    gu: Tensor,
    down: LinearCache,
    mlp_out_norm: Option<NormCache>,
}

/// `y` through a branch's output norm, when there is one.
fn out_norm(norm: &Option<RmsNorm>, y: Tensor) -> Result<(Tensor, Option<NormCache>)> {
    match norm {
        Some(norm) => {
            let (out, cache) = norm.forward(&y)?;
            Ok((out, Some(cache)))
        }
        None => Ok((y, None)),
    }
}

/// The gradient through a branch's output norm (`dy` itself when there is none).
fn out_norm_backward(
    norm: &Option<RmsNorm>,
    cache: &Option<NormCache>,
    dy: &Tensor,
    grads: &mut Grads,
) -> Result<Tensor> {
    match (norm, cache) {
        (Some(norm), Some(cache)) => norm.backward(cache, dy, grads),
        _ => Ok(dy.clone()),
    }
}

/// `a + b` written into `a` (which the caller owns).
fn add_into(a: Tensor, b: &Tensor) -> Result<Tensor> {
    {
        let src = view(b)?;
        modify(&a, |d| super::tensor::add_assign(d, src.slice()))?;
    }
    Ok(a)
}
