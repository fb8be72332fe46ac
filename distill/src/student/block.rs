//! One decoder block: `x + attn(norm(x))`, then `h + mlp(norm(h))`.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::attention::{self, Heads, Span};
use super::config::Config;
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
    /// Attention output projection.
    pub o_proj: Linear,
    /// Norm before the MLP.
    pub post_norm: RmsNorm,
    /// Gate and up projections.
    pub gate_up: Linear,
    /// Down projection.
    pub down: Linear,
    heads: Heads,
}

/// Activations the backward pass needs.
#[derive(Debug)]
pub struct BlockCache {
    norm1: NormCache,
    qkv: LinearCache,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    lse: Vec<Vec<f32>>,
    attn: Tensor,
    o: LinearCache,
    norm2: NormCache,
    gate_up: LinearCache,
    gu: Tensor,
    down: LinearCache,
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
        Ok(Block {
            input_norm: RmsNorm::new(h, cfg.rms_norm_eps, vb.pp("input_layernorm"))?,
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
            post_norm: RmsNorm::new(h, cfg.rms_norm_eps, vb.pp("post_attention_layernorm"))?,
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
            heads: Heads {
                q: cfg.num_heads,
                kv: cfg.num_kv_heads,
                dim: cfg.head_dim,
            },
        })
    }

    /// The linear projections of the block.
    pub fn linears(&self) -> [&Linear; 4] {
        [&self.qkv, &self.o_proj, &self.gate_up, &self.down]
    }

    /// Splits the fused query/key/value rows and rotates queries and keys by `positions`.
    fn split_rotate(&self, qkv: &Tensor, positions: &[usize], rope: &Rope) -> Result<[Tensor; 3]> {
        let (qw, kw) = (
            self.heads.q * self.heads.dim,
            self.heads.kv * self.heads.dim,
        );
        // Column slices of the fused output: copies, except for a single row (an offset view
        // into `qkv`, a temporary of the caller's, so rotating it in place is harmless).
        let q = qkv.narrow(1, 0, qw)?.contiguous()?;
        let k = qkv.narrow(1, qw, kw)?.contiguous()?;
        let v = qkv.narrow(1, qw + kw, kw)?.contiguous()?;
        for (t, width) in [(&q, qw), (&k, kw)] {
            modify(t, |data| rope.rotate(data, width, positions, false))?;
        }
        Ok([q, k, v])
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
        let [q, k, v] = self.split_rotate(&qkv_out, positions, rope)?;
        drop(qkv_out);
        let (attn, lse) = attention::forward(&q, &k, &v, spans, self.heads)?;
        let (o_out, o) = self.o_proj.forward(&attn, pass)?;
        let mid = (x + o_out)?;
        let (normed, norm2) = self.post_norm.forward(&mid)?;
        let (gu, gate_up) = self.gate_up.forward(&normed, pass)?;
        drop(normed);
        let act = swiglu::forward(&gu)?;
        let (down_out, down) = self.down.forward(&act, pass)?;
        let out = (&mid + down_out)?;
        Ok((
            out,
            BlockCache {
                norm1,
                qkv,
                q,
                k,
                v,
                lse,
                attn,
                o,
                norm2,
                gate_up,
                gu,
                down,
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
        let d_act = need(self.down.backward(&cache.down, dy, grads, true)?)?;
        let d_gu = swiglu::backward(&cache.gu, &d_act)?;
        drop(d_act);
        let d_normed = need(self.gate_up.backward(&cache.gate_up, &d_gu, grads, true)?)?;
        drop(d_gu);
        let d_mid = self.post_norm.backward(&cache.norm2, &d_normed, grads)?;
        drop(d_normed);
        let d_mid = add_into(d_mid, dy)?;
        // Attention branch.
        let d_attn = need(self.o_proj.backward(&cache.o, &d_mid, grads, true)?)?;
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
        let [q, k, v] = self.split_rotate(&qkv_out, positions, rope)?;
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
        let (o_out, _) = self.o_proj.forward(&attn, Pass::EVAL)?;
        let mid = (x + o_out)?;
        let (normed, _) = self.post_norm.forward(&mid)?;
        let (gu, _) = self.gate_up.forward(&normed, Pass::EVAL)?;
        let (down_out, _) = self.down.forward(&swiglu::forward(&gu)?, Pass::EVAL)?;
        &mid + down_out
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
