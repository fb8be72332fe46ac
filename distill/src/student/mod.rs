//! The student trainer (candle): a Llama, Qwen2, Qwen3, Mistral or Gemma 3 decoder with a
//! hand-written backward pass, SFT, DPO, PRM and GRPO objectives, LoRA or full fine-tuning, AdamW,
//! resumable runs, and the export into the checkpoint layout `r2l serve` loads.
//!
//! candle-nn's fused ops (`rms_norm`, `softmax_last_dim`, `rope`) have no backward pass, and
//! candle's autograd computes every matmul's weight gradient (frozen ones too) and materialises
//! each gradient several times; the model here keeps candle tensors and candle's matmul (gemm)
//! and writes each layer's backward by hand, fusing the element-wise work into parallel passes.

mod attention;
mod batch;
mod block;
mod config;
mod contrastive;
mod data;
mod dpo;
mod examples;
mod export;
mod generate;
mod grads;
mod grpo;
mod grpo_math;
mod head;
mod linear;
mod log;
mod lora;
mod math;
mod model;
mod norm;
mod objective;
mod optimizer;
mod options;
mod prm;
mod prm_head;
mod prm_model;
mod prompt_cut;
mod random;
mod resume;
mod rope;
mod sft;
mod stepwise;
mod swiglu;
mod tensor;
mod tokenize;
mod train;

pub use attention::Span;
pub use batch::{epoch_order, step_examples, Packed};
pub use config::{Config, RopeKind};
pub use contrastive::{info_nce, Projector};
pub use data::{read_dpo, read_sft, DpoRecord, Lined, SftRecord};
pub use dpo::{
    dpo_step, log_sigmoid, pack_pairs, sequence_logprobs, DpoObjective, DpoStep, PairRef,
    REFERENCE_FILE,
};
pub use examples::{load_dpo, load_sft, DataSummary};
pub use export::{export, Base, TRAINING_FILE};
pub use generate::{generate_greedy, generate_sampled, generate_sampled_group, Sampling};
pub use grads::Grads;
pub use grpo::{grpo_step, GrpoBatch, GrpoLoss, GrpoObjective, GrpoSettings, GRPO_LR};
pub use grpo_math::{
    advantages, kl_k3, soft_min_reward, step_reward, token_loss, verifiable_reward, Advantage,
    CLIP_EPSILON, SOFT_MIN_TEMPERATURE,
};
pub use linear::Pass;
pub use log::TRAIN_LOG_FILE;
pub use lora::{LoraConfig, LORA_MODULES};
pub use model::{token_logprobs, KvCache, Llama, Tuning};
pub use objective::{build as build_objective, Objective, StepStats};
pub use optimizer::{clip_scale, grad_norm, learning_rate, AdamW, AdamWConfig};
pub use options::{
    ObjectiveKind, PrmSettings, TrainOptions, DPO_BETA, DPO_LR, DPO_MAX_LENGTH,
    DPO_MAX_PROMPT_LENGTH, PRM_LR, SFT_LR, SFT_MAX_LENGTH,
};
pub use prm::{pack_labelled, prm_step, PrmExample, PrmObjective, PrmStep};
pub use prm_head::PrmHead;
pub use prm_model::{PrmConfig, PrmModel, PRM_CONFIG_FILE, PRM_HEAD_FILE};
pub use random::{random_weights, tiny_config};
pub use resume::{exists as resume_point_exists, RESUME_DIR};
pub use sft::{sft_loss, sft_step, SftObjective, SftStep};
pub use stepwise::{
    read_stepwise, tokenize_steps, StepLimits, StepSequence, StepwiseRow, PRM_MAX_LENGTH,
    PRM_MAX_PROMPT_LENGTH, STEP_SEPARATOR,
};
pub use tokenize::{DpoLimits, Encoder, Pair, Sequence};
pub use train::{train, TrainReport};

#[cfg(test)]
pub(crate) mod testing {
    //! Shared fixtures of the unit tests.
    pub use super::random::tiny_config as tiny;

    /// A Llama tiny config.
    pub fn tiny_config() -> super::Config {
        tiny(checkpoint::Architecture::Llama)
    }
}
