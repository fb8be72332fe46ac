//! The student: a Llama-family decoder (Llama, Qwen2, Qwen3, Mistral, Gemma 3) written candle-style (`Config` + `new(cfg, vb)`), with a
//! training forward pass that keeps what its hand-written backward pass needs, and an inference
//! forward pass over a KV cache the caller owns.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;

use super::attention::Span;
use super::batch::Packed;
use super::block::{Block, BlockCache, LayerCache};
use super::config::Config;
use super::grads::Grads;
use super::head::Head;
use super::linear::Pass;
use super::lora::LoraConfig;
use super::norm::{NormCache, RmsNorm};
use super::rope::Rope;
use super::tensor::{tensor, view};

/// Which tensors a training run updates.
#[derive(Debug, Clone, PartialEq)]
pub enum Tuning {
    /// Every weight.
    Full,
    /// Only LoRA adapters.
    Lora(LoraConfig),
}

/// A Llama-family decoder (the name of the family's first member).
#[derive(Debug, Clone)]
pub struct Llama {
    /// Hyper-parameters.
    pub cfg: Config,
    /// Token embeddings `[vocab, hidden]` (also the head when tied).
    pub embed: Tensor,
    /// Decoder blocks.
    pub blocks: Vec<Block>,
    /// Final norm.
    pub norm: RmsNorm,
    /// Output head `[vocab, hidden]`, when not tied to the embeddings.
    pub lm_head: Option<Tensor>,
    rope: Rope,
    /// Gemma 3: the RoPE of the sliding-window blocks (their own base).
    local_rope: Option<Rope>,
    /// Gemma 3: embeddings are multiplied by `sqrt(hidden)` (rounded to `f32` as transformers
    /// does).
    embed_scale: Option<f32>,
}

/// The training forward pass's saved activations.
#[derive(Debug)]
pub struct Activations {
    ids: Vec<u32>,
    blocks: Vec<BlockCache>,
    norm: NormCache,
}

/// Keys and values of every block for the tokens generated so far.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<LayerCache>,
    len: usize,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> KvCache {
        KvCache::default()
    }

    /// Tokens seen so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no token has been seen.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Llama {
    /// Builds the model from `vb` (Hugging Face names: `model.embed_tokens.weight`, ...).
    /// `lora` adds adapters to the targeted projections, their `A` matrices drawn from `seed`.
    pub fn new(
        cfg: &Config,
        vb: VarBuilder,
        lora: Option<&LoraConfig>,
        seed: u64,
    ) -> Result<Llama> {
        let (v, h) = (cfg.vocab_size, cfg.hidden_size);
        let embed = vb.pp("model.embed_tokens").get((v, h), "weight")?;
        let blocks = (0..cfg.num_layers)
            .map(|i| Block::new(cfg, vb.pp(format!("model.layers.{i}")), i, lora, seed))
            .collect::<Result<Vec<_>>>()?;
        let gemma = cfg.architecture == checkpoint::Architecture::Gemma3;
        let shift = cfg.norm_shift();
        let norm = RmsNorm::new(h, cfg.rms_norm_eps, shift, vb.pp("model.norm"))?;
        let lm_head = if cfg.tie_word_embeddings {
            None
        } else {
            Some(vb.pp("lm_head").get((v, h), "weight")?)
        };
        Ok(Llama {
            cfg: cfg.clone(),
            embed,
            blocks,
            norm,
            lm_head,
            rope: Rope::new(cfg.inv_freq(), cfg.max_position_embeddings),
            local_rope: cfg
                .local_inv_freq()
                .map(|f| Rope::new(f, cfg.max_position_embeddings)),
            embed_scale: gemma.then(|| (h as f64).sqrt() as f32),
        })
    }

    /// Builds the model from named tensors (any float dtype; converted to `f32`).
    pub fn from_tensors(
        cfg: &Config,
        tensors: HashMap<String, Tensor>,
        lora: Option<&LoraConfig>,
        seed: u64,
    ) -> Result<Llama> {
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        Llama::new(cfg, vb, lora, seed)
    }

    /// The output head: its weight (the embeddings when tied) and the logits' soft cap.
    pub fn head(&self) -> Head<'_> {
        Head {
            weight: self.lm_head.as_ref().unwrap_or(&self.embed),
            softcap: self.cfg.final_softcap.map(|c| c as f32),
        }
    }

    /// The RoPE of `block` (Gemma 3's sliding-window blocks have their own).
    fn rope_of(&self, block: &Block) -> &Rope {
        match (&self.local_rope, block.sliding) {
            (Some(local), true) => local,
            _ => &self.rope,
        }
    }

    /// The tensors `tuning` updates, with stable names (for optimizer state and resume files).
    pub fn trained(&self, tuning: &Tuning) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        match tuning {
            Tuning::Lora(_) => {
                for block in &self.blocks {
                    for linear in block.linears() {
                        for part in &linear.parts {
                            if let Some(lora) = &part.lora {
                                out.push((format!("{}.lora_A", part.name), lora.a.clone()));
                                out.push((format!("{}.lora_B", part.name), lora.b.clone()));
                            }
                        }
                    }
                }
            }
            Tuning::Full => {
                out.push(("model.embed_tokens.weight".to_string(), self.embed.clone()));
                for (i, block) in self.blocks.iter().enumerate() {
                    let p = format!("model.layers.{i}");
                    for (name, norm) in block.norms() {
                        out.push((format!("{p}.{name}.weight"), norm.weight.clone()));
                    }
                    for (name, linear) in ["qkv", "o_proj", "gate_up", "down_proj"]
                        .iter()
                        .zip(block.linears())
                    {
                        out.push((format!("{p}.{name}.weight"), linear.weight.clone()));
                        if let Some(bias) = &linear.bias {
                            out.push((format!("{p}.{name}.bias"), bias.clone()));
                        }
                    }
                }
                out.push(("model.norm.weight".to_string(), self.norm.weight.clone()));
                if let Some(head) = &self.lm_head {
                    out.push(("lm_head.weight".to_string(), head.clone()));
                }
            }
        }
        out
    }

    /// The rows of the embedding matrix for `ids`.
    fn embed_rows(&self, ids: &[u32]) -> Result<Tensor> {
        let vocab = self.cfg.vocab_size;
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= vocab) {
            candle_core::bail!("token id {bad} is outside the vocabulary of {vocab}");
        }
        let index = Tensor::from_slice(ids, ids.len(), &Device::Cpu)?;
        let rows = self.embed.index_select(&index, 0)?;
        match self.embed_scale {
            Some(scale) => rows.affine(f64::from(scale), 0.0),
            None => Ok(rows),
        }
    }

    /// The training forward pass over packed sequences: the final normed hidden states
    /// `[rows, hidden]` and the activations [`Llama::backward`] needs. `positions` gives each
    /// row's position in its sequence.
    pub fn forward_train(
        &self,
        ids: &[u32],
        spans: &[Span],
        positions: &[usize],
        pass: Pass,
    ) -> Result<(Tensor, Activations)> {
        if let Some(&p) = positions.iter().max() {
            if p >= self.rope.positions() {
                candle_core::bail!(
                    "position {p} is beyond the model's context of {} tokens",
                    self.rope.positions()
                );
            }
        }
        let mut x = self.embed_rows(ids)?;
        let mut caches = Vec::with_capacity(self.blocks.len());
        for (i, block) in self.blocks.iter().enumerate() {
            let layer_pass = Pass {
                seed: pass
                    .seed
                    .wrapping_add((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                ..pass
            };
            let rope = self.rope_of(block);
            let (out, cache) = block.forward(&x, spans, positions, rope, layer_pass)?;
            caches.push(cache);
            x = out;
        }
        let (hidden, norm) = self.norm.forward(&x)?;
        Ok((
            hidden,
            Activations {
                ids: ids.to_vec(),
                blocks: caches,
                norm,
            },
        ))
    }

    /// The training forward pass over `packed`, keeping the final hidden states of its target
    /// rows only (`[targets, hidden]`), and the activations [`Llama::backward_rows`] needs.
    pub fn forward_rows(&self, packed: &Packed, pass: Pass) -> Result<(Tensor, Activations)> {
        let (hidden, acts) =
            self.forward_train(&packed.ids, &packed.spans, &packed.positions, pass)?;
        Ok((gather_rows(&hidden, &packed.target_rows)?, acts))
    }

    /// Back-propagates a loss that depends on the target rows' log-probabilities through
    /// `coefs` (`dL/dlog p` of each target row of [`Llama::forward_rows`]): the head's gradient,
    /// then the model's. Returns the rows' log-probabilities.
    pub fn backward_through_head(
        &self,
        acts: Activations,
        packed: &Packed,
        rows: Tensor,
        coefs: &[f32],
        grads: &mut Grads,
    ) -> Result<Vec<f32>> {
        let out = self
            .head()
            .run(&rows, &packed.targets, Some(coefs), grads)?;
        drop(rows);
        let d_rows = out
            .d_input
            .ok_or_else(|| candle_core::Error::Msg("the head returned no gradient".into()))?;
        self.backward_rows(acts, packed, &d_rows, grads)?;
        Ok(out.logprobs)
    }

    /// Back-propagates `d_rows`, the gradient of the target rows' hidden states of
    /// [`Llama::forward_rows`].
    pub fn backward_rows(
        &self,
        acts: Activations,
        packed: &Packed,
        d_rows: &Tensor,
        grads: &mut Grads,
    ) -> Result<()> {
        let d_hidden = scatter_rows(packed.tokens(), &packed.target_rows, d_rows)?;
        self.backward(acts, &d_hidden, &packed.spans, &packed.positions, grads)
    }

    /// Back-propagates `d_hidden` (the gradient of the final normed hidden states) through the
    /// model, accumulating the trained tensors' gradients into `grads`.
    pub fn backward(
        &self,
        acts: Activations,
        d_hidden: &Tensor,
        spans: &[Span],
        positions: &[usize],
        grads: &mut Grads,
    ) -> Result<()> {
        let mut dx = self.norm.backward(&acts.norm, d_hidden, grads)?;
        let mut caches = acts.blocks;
        for block in self.blocks.iter().rev() {
            let cache = caches
                .pop()
                .ok_or_else(|| candle_core::Error::Msg("missing block activations".into()))?;
            dx = block.backward(cache, &dx, spans, positions, self.rope_of(block), grads)?;
        }
        if grads.wants(&self.embed) {
            if let Some(scale) = self.embed_scale {
                dx = dx.affine(f64::from(scale), 0.0)?;
            }
            let d = view(&dx)?;
            grads.scatter_rows(&self.embed, &acts.ids, d.slice())?;
        }
        Ok(())
    }

    /// Inference: the logits `[ids.len(), vocab]` of the new tokens `ids`, which continue the
    /// sequence held in `cache` (extended by them).
    pub fn forward(&self, ids: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        self.forward_many(ids, &mut [cache], &[ids.len()])
    }

    /// Inference on several sequences at once: the first `counts[0]` tokens of `ids` continue
    /// `caches[0]`, the next `counts[1]` continue `caches[1]`, and so on; the logits
    /// `[ids.len(), vocab]` of every new token, in that order.
    pub fn forward_many(
        &self,
        ids: &[u32],
        caches: &mut [&mut KvCache],
        counts: &[usize],
    ) -> Result<Tensor> {
        if caches.len() != counts.len() || counts.iter().sum::<usize>() != ids.len() {
            candle_core::bail!(
                "{} tokens in counts {counts:?} for {} caches",
                ids.len(),
                caches.len()
            );
        }
        let mut positions = Vec::with_capacity(ids.len());
        for (cache, &n) in caches.iter_mut().zip(counts) {
            if cache.len + n > self.rope.positions() {
                candle_core::bail!(
                    "{} tokens exceed the model's context of {} tokens",
                    cache.len + n,
                    self.rope.positions()
                );
            }
            if cache.layers.len() != self.blocks.len() {
                cache.layers = vec![LayerCache::default(); self.blocks.len()];
            }
            positions.extend(cache.len..cache.len + n);
        }
        let mut x = self.embed_rows(ids)?;
        for (b, block) in self.blocks.iter().enumerate() {
            let mut layers: Vec<&mut LayerCache> =
                caches.iter_mut().map(|c| &mut c.layers[b]).collect();
            x = block.forward_cached(&x, &positions, self.rope_of(block), &mut layers, counts)?;
        }
        for (cache, &n) in caches.iter_mut().zip(counts) {
            cache.len += n;
        }
        let (hidden, _) = self.norm.forward(&x)?;
        self.head().logits(&hidden)
    }

    /// Every weight under its Hugging Face name, LoRA adapters merged in (the export).
    pub fn hf_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        out.insert("model.embed_tokens.weight".to_string(), self.embed.clone());
        for (i, block) in self.blocks.iter().enumerate() {
            let p = format!("model.layers.{i}");
            for (name, norm) in block.norms() {
                out.insert(format!("{p}.{name}.weight"), norm.weight.clone());
            }
            for linear in block.linears() {
                for (name, weight, bias) in linear.merged_parts()? {
                    out.insert(format!("{name}.weight"), weight);
                    if let Some(bias) = bias {
                        out.insert(format!("{name}.bias"), bias);
                    }
                }
            }
        }
        out.insert("model.norm.weight".to_string(), self.norm.weight.clone());
        if let Some(head) = &self.lm_head {
            out.insert("lm_head.weight".to_string(), head.clone());
        }
        Ok(out)
    }

    /// Loads the checkpoint in `dir` (its `config.json` and safetensors weights).
    pub fn load(
        dir: &Path,
        lora: Option<&LoraConfig>,
        seed: u64,
    ) -> crate::Result<(Llama, checkpoint::ModelConfig)> {
        let model_config = checkpoint::ModelConfig::read(dir)?;
        let cfg = Config::from_model_config(&model_config, &dir.join(checkpoint::CONFIG_FILE))?;
        let tensors = checkpoint::load_weights(dir)?;
        let model = Llama::from_tensors(&cfg, tensors, lora, seed).map_err(|e| {
            crate::Error::Checkpoint(checkpoint::Error::Weights {
                path: dir.to_path_buf(),
                message: format!("does not fit its config.json: {e}"),
            })
        })?;
        Ok((model, model_config))
    }
}

/// The log-probability of every learnt token of `packed` under `model` (no dropout, no
/// gradient).
pub fn token_logprobs(model: &Llama, packed: &Packed) -> Result<Vec<f32>> {
    if packed.targets.is_empty() {
        return Ok(Vec::new());
    }
    let (rows, _) = model.forward_rows(packed, Pass::EVAL)?;
    let out = model
        .head()
        .run(&rows, &packed.targets, None, &mut Grads::default())?;
    Ok(out.logprobs)
}

/// Copies rows `rows` of `x` (`[n, width]`) into a new `[rows.len(), width]` tensor.
pub fn gather_rows(x: &Tensor, rows: &[usize]) -> Result<Tensor> {
    let (_, width) = x.dims2()?;
    let xs = view(x)?;
    let xs = xs.slice();
    let mut out = Vec::with_capacity(rows.len() * width);
    for &r in rows {
        out.extend_from_slice(&xs[r * width..(r + 1) * width]);
    }
    tensor(out, (rows.len(), width))
}

/// A `[n, width]` tensor of zeros with `values` (`[rows.len(), width]`) written at `rows`.
pub fn scatter_rows(n: usize, rows: &[usize], values: &Tensor) -> Result<Tensor> {
    let (_, width) = values.dims2()?;
    let vs = view(values)?;
    let mut out = vec![0f32; n * width];
    for (&r, row) in rows.iter().zip(vs.slice().chunks(width)) {
        out[r * width..(r + 1) * width].copy_from_slice(row);
    }
    drop(vs);
    tensor(out, (n, width))
}
