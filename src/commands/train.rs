//! `r2l train sft|dpo|prm|grpo`: fine-tune a student (LoRA or full weights) into a checkpoint directory
//! that `r2l serve --model DIR` and `r2l eval --local DIR` load (a PRM adds its head, read by
//! `r2l prm score`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};
use distill::student::{
    train, Advantage, GrpoSettings, LoraConfig, ObjectiveKind, PrmSettings, Sampling, TrainOptions,
    Tuning, DPO_BETA, DPO_LR, DPO_MAX_LENGTH, DPO_MAX_PROMPT_LENGTH, GRPO_LR, LORA_MODULES, PRM_LR,
    PRM_MAX_LENGTH, PRM_MAX_PROMPT_LENGTH, SFT_LR, SFT_MAX_LENGTH, STEP_SEPARATOR,
};
use serde_json::json;

use super::r2l_home;
use super::serve::DEFAULT_MODEL_DIR;
use super::train_trl::{train_with_trl, TrlBackend};

/// `r2l train` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum TrainCommand {
    /// Supervised fine-tuning on TRL SFT records (`messages`; loss on the assistant turns)
    Sft(SftArgs),
    /// Direct preference optimisation on TRL preference records (`prompt`, `chosen`, `rejected`)
    Dpo(DpoArgs),
    /// A process reward model on TRL stepwise rows (`prompt`, `completions`, `labels`), e.g. the
    /// `stepwise.jsonl` of `r2l distill agentark`
    Prm(PrmArgs),
    /// RL on a task's questions: sampled groups, verifiable (and PRM) rewards, GRPO/RLOO
    /// advantages, clipped policy gradient with a KL to the starting policy
    Grpo(GrpoArgs),
}

/// The training file and the base of the objectives that learn from a file.
#[derive(clap::Args, Debug)]
pub struct FileArgs {
    /// The TRL-format JSONL file
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// `default` (the setup step's converted SmolLM2) or a checkpoint directory (Llama or Qwen2)
    #[arg(long, value_name = "MODEL", default_value = "default")]
    base: String,
}

/// Flags shared by every objective.
#[derive(clap::Args, Debug)]
pub struct CommonArgs {
    /// Output checkpoint directory
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// LoRA rank
    #[arg(long, value_name = "R", default_value_t = 16, conflicts_with = "full")]
    lora_rank: usize,
    /// LoRA alpha (the update is scaled by alpha / rank)
    #[arg(
        long,
        value_name = "A",
        default_value_t = 32.0,
        conflicts_with = "full"
    )]
    lora_alpha: f64,
    /// LoRA dropout on the adapters' input while training
    #[arg(
        long,
        value_name = "P",
        default_value_t = 0.05,
        conflicts_with = "full"
    )]
    lora_dropout: f64,
    /// Comma-separated modules LoRA adapts [default: all: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj]
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        conflicts_with = "full"
    )]
    lora_targets: Vec<String>,
    /// Train every weight instead of LoRA adapters
    #[arg(long)]
    full: bool,
    /// Passes over the data [default: 2; prm: 3]
    #[arg(long, value_name = "E")]
    epochs: Option<usize>,
    /// Peak learning rate [default: 2e-4 for sft, 5e-6 for dpo, 1e-4 for prm]
    #[arg(long, value_name = "X")]
    lr: Option<f64>,
    /// Examples per micro-batch (dpo: pairs)
    #[arg(long, value_name = "B", default_value_t = 4)]
    batch: usize,
    /// Micro-batches per optimizer step
    #[arg(long, value_name = "G", default_value_t = 1)]
    grad_accum: usize,
    /// Stop after N optimizer steps (the learning-rate schedule then spans N steps)
    #[arg(long, value_name = "N")]
    max_steps: Option<usize>,
    /// Seed of data order, adapter initialisation and dropout
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// Longest sequence in tokens [default: 1024 for sft (longer is an error), 1600 for dpo (completions are cut), 1024 for prm (cut as TRL)]
    #[arg(long, value_name = "TOKENS")]
    max_length: Option<usize>,
    /// Share of the steps spent warming the learning rate up [default: 0.03; prm: 0]
    #[arg(long, value_name = "R")]
    warmup_ratio: Option<f64>,
    /// AdamW decoupled weight decay [default: 0; prm: 0.1]
    #[arg(long, value_name = "W")]
    weight_decay: Option<f64>,
    /// Clip gradients to this global norm (0 = off)
    #[arg(long, value_name = "N", default_value_t = 1.0)]
    max_grad_norm: f64,
    /// Save a resume point every N steps (also on Ctrl-C)
    #[arg(long, value_name = "N", default_value_t = 100)]
    save_steps: usize,
    /// Continue the run saved in --out
    #[arg(long)]
    resume: bool,
    /// Hide the progress bar
    #[arg(long)]
    no_progress: bool,
}

/// Which trainer runs SFT or DPO.
#[derive(clap::Args, Debug)]
pub struct BackendArgs {
    /// candle: in-process on this machine; trl: TRL's own command line (`trl sft`/`trl dpo`, under accelerate) in --python's environment, on the same records and settings
    #[arg(long, value_enum, default_value = "candle")]
    backend: BackendArg,
    /// The Python interpreter of --backend trl (an environment with trl, transformers, peft, torch, accelerate)
    #[arg(long, value_name = "PATH", default_value = "python3")]
    python: PathBuf,
    /// An accelerate config file for --backend trl (GPUs, DeepSpeed, FSDP)
    #[arg(long, value_name = "FILE")]
    accelerate_config: Option<PathBuf>,
}

/// The trainers of `--backend`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendArg {
    /// r2l's candle trainer, in-process.
    Candle,
    /// TRL's command line in a Python environment.
    Trl,
}

impl BackendArgs {
    /// The TRL backend when it is chosen.
    fn trl(&self) -> Option<TrlBackend> {
        (self.backend == BackendArg::Trl).then(|| TrlBackend {
            python: self.python.clone(),
            accelerate_config: self.accelerate_config.clone(),
        })
    }
}

/// `r2l train sft` flags.
#[derive(clap::Args, Debug)]
pub struct SftArgs {
    #[command(flatten)]
    file: FileArgs,
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    backend: BackendArgs,
}

/// `r2l train dpo` flags.
#[derive(clap::Args, Debug)]
pub struct DpoArgs {
    #[command(flatten)]
    file: FileArgs,
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    backend: BackendArgs,
    /// DPO beta
    #[arg(long, default_value_t = DPO_BETA)]
    beta: f64,
    /// Longest prompt in tokens (longer prompts lose the start of their last user turn)
    #[arg(long, value_name = "TOKENS", default_value_t = DPO_MAX_PROMPT_LENGTH)]
    max_prompt_length: usize,
}

/// `r2l train prm` flags (defaults: AgentArk's README for `prm/finetune2.py`: 3 epochs, lr 1e-4,
/// weight decay 0.1, Adam β2 0.95, no warmup).
#[derive(clap::Args, Debug)]
pub struct PrmArgs {
    #[command(flatten)]
    file: FileArgs,
    #[command(flatten)]
    common: CommonArgs,
    /// Text written after every step; each step's label sits on its last token
    #[arg(long, value_name = "TEXT", default_value = STEP_SEPARATOR)]
    separator: String,
    /// Train only the classification head (AgentArk's `fix_llm`)
    #[arg(long)]
    freeze_backbone: bool,
    /// Weight of AgentArk's contrastive term on the labelled positions (0 = off)
    #[arg(long, value_name = "W", default_value_t = PrmSettings::default().contrastive)]
    contrastive: f64,
    /// Longest prompt in tokens (longer prompts keep their end, as TRL)
    #[arg(long, value_name = "TOKENS", default_value_t = PRM_MAX_PROMPT_LENGTH)]
    max_prompt_length: usize,
    /// Longest run of steps in tokens (longer ones keep their start; later labels are lost)
    #[arg(long, value_name = "TOKENS")]
    max_completion_length: Option<usize>,
    /// Adam's second-moment decay
    #[arg(long, value_name = "B", default_value_t = 0.95)]
    adam_beta2: f64,
}

/// `r2l train grpo` flags (defaults: AgentArk's `train_grpo_ray.py` command: group 8, KL 0.001,
/// temperature 0.5, actor lr 5e-7, one epoch; advantages as TRL's GRPOTrainer, which that script
/// runs, computes them).
#[derive(clap::Args, Debug)]
pub struct GrpoArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// A reasoning task with a verifiable judge (gsm8k, math500, strategyqa, commonsenseqa, arc-challenge, medmcqa, or a TOML)
    #[arg(long, value_name = "TASK")]
    task: String,
    /// The split whose questions are the prompts
    #[arg(long, default_value = "train")]
    split: String,
    /// Use this many questions (a seeded selection)
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[command(flatten)]
    data_dir: super::DataDirArg,
    /// The policy to train: `default` or a checkpoint directory (e.g. an R-SFT student)
    #[arg(long, value_name = "MODEL", default_value = "default")]
    policy: String,
    /// A PRM checkpoint (`r2l train prm`): its soft-minimum step reward is added to the verifiable one
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "verifiable_only",
        required_unless_present = "verifiable_only"
    )]
    prm: Option<PathBuf>,
    /// Reward answers by the task's judge alone (no PRM)
    #[arg(long)]
    verifiable_only: bool,
    /// How rewards become advantages within a group
    #[arg(long, value_enum, default_value = "grpo")]
    advantage: AdvantageArg,
    /// Answers sampled per prompt
    #[arg(long, value_name = "G", default_value_t = 8)]
    group: usize,
    /// Weight of the KL to the starting policy
    #[arg(long, value_name = "BETA", default_value_t = 0.001)]
    kl: f64,
    /// Sampling temperature of the rollouts
    #[arg(long, value_name = "T", default_value_t = 0.5)]
    temperature: f64,
    /// Nucleus of the rollouts
    #[arg(long, value_name = "P", default_value_t = 1.0)]
    top_p: f64,
    /// Longest answer in tokens
    #[arg(long, value_name = "TOKENS", default_value_t = 256)]
    max_new_tokens: usize,
    /// Weight of the verifiable reward (+1 right, -1 wrong)
    #[arg(long, value_name = "C", default_value_t = 1.0)]
    verifiable_coef: f64,
}

/// `--advantage` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum AdvantageArg {
    /// Leave-one-out baseline
    Rloo,
    /// Group z-score
    Grpo,
}

/// The base model directory for `--base`.
fn base_dir(base: &str) -> Result<PathBuf> {
    if base == "default" {
        let dir = r2l_home().join("models").join(DEFAULT_MODEL_DIR);
        if !dir.join("config.json").is_file() {
            bail!(
                "the default model is not set up at {}; run `bash scripts/setup.sh` (or `r2l setup`)",
                dir.display()
            );
        }
        return Ok(dir);
    }
    let dir = PathBuf::from(base);
    if !dir.is_dir() {
        bail!("--base {base}: not a checkpoint directory (config.json, model.safetensors, tokenizer.json)");
    }
    Ok(dir)
}

fn options(
    data: &Path,
    base: &str,
    common: &CommonArgs,
    objective: &ObjectiveKind,
) -> Result<TrainOptions> {
    let base = base_dir(base)?;
    let mut options = match &objective {
        ObjectiveKind::Sft => TrainOptions::sft(data, base, &common.out),
        ObjectiveKind::Dpo { .. } => TrainOptions {
            objective: objective.clone(),
            ..TrainOptions::dpo(data, base, &common.out)
        },
        ObjectiveKind::Prm(_) => TrainOptions {
            objective: objective.clone(),
            ..TrainOptions::prm(data, base, &common.out)
        },
        ObjectiveKind::Grpo(settings) => {
            TrainOptions::grpo((**settings).clone(), base, &common.out)
        }
    };
    options.tuning = if common.full {
        Tuning::Full
    } else {
        Tuning::Lora(LoraConfig {
            rank: common.lora_rank,
            alpha: common.lora_alpha,
            dropout: common.lora_dropout,
            targets: if common.lora_targets.is_empty() {
                LORA_MODULES.iter().map(|m| m.to_string()).collect()
            } else {
                common.lora_targets.clone()
            },
        })
    };
    let (default_lr, default_length) = match objective {
        ObjectiveKind::Sft => (SFT_LR, SFT_MAX_LENGTH),
        ObjectiveKind::Dpo { .. } => (DPO_LR, DPO_MAX_LENGTH),
        ObjectiveKind::Prm(_) => (PRM_LR, PRM_MAX_LENGTH),
        ObjectiveKind::Grpo(_) => (GRPO_LR, SFT_MAX_LENGTH),
    };
    options.epochs = common.epochs.unwrap_or(options.epochs);
    options.lr = common.lr.unwrap_or(default_lr);
    options.batch = common.batch;
    options.grad_accum = common.grad_accum;
    options.max_steps = common.max_steps;
    options.seed = common.seed;
    options.max_length = common.max_length.unwrap_or(default_length);
    options.warmup_ratio = common.warmup_ratio.unwrap_or(options.warmup_ratio);
    options.adamw.weight_decay = common.weight_decay.unwrap_or(options.adamw.weight_decay);
    options.max_grad_norm = common.max_grad_norm;
    options.save_steps = common.save_steps;
    options.resume = common.resume;
    options.progress = !common.no_progress;
    Ok(options)
}

/// Runs `r2l train sft|dpo|prm|grpo`.
pub fn run(command: &TrainCommand) -> Result<ExitCode> {
    let trl = match command {
        TrainCommand::Sft(args) => args.backend.trl(),
        TrainCommand::Dpo(args) => args.backend.trl(),
        _ => None,
    };
    let mut options = match command {
        TrainCommand::Sft(args) => options(
            &args.file.data,
            &args.file.base,
            &args.common,
            &ObjectiveKind::Sft,
        )?,
        TrainCommand::Dpo(args) => options(
            &args.file.data,
            &args.file.base,
            &args.common,
            &ObjectiveKind::Dpo {
                beta: args.beta,
                max_prompt_length: args.max_prompt_length,
            },
        )?,
        TrainCommand::Prm(args) => {
            let mut options = options(
                &args.file.data,
                &args.file.base,
                &args.common,
                &ObjectiveKind::Prm(PrmSettings {
                    separator: args.separator.clone(),
                    freeze_backbone: args.freeze_backbone,
                    contrastive: args.contrastive,
                    max_prompt_length: args.max_prompt_length,
                    max_completion_length: args.max_completion_length,
                }),
            )?;
            if !(0.0..1.0).contains(&args.adam_beta2) {
                bail!("--adam-beta2: must be in [0, 1)");
            }
            options.adamw.beta2 = args.adam_beta2;
            options
        }
        TrainCommand::Grpo(args) => {
            let settings = GrpoSettings {
                task: args.task.clone(),
                split: args.split.clone(),
                limit: args.limit,
                data_dir: args.data_dir.resolve()?,
                prm: args.prm.clone(),
                group: args.group,
                advantage: match args.advantage {
                    AdvantageArg::Rloo => Advantage::Rloo,
                    AdvantageArg::Grpo => Advantage::Grpo,
                },
                kl: args.kl,
                sampling: Sampling {
                    temperature: args.temperature,
                    top_p: args.top_p,
                },
                max_new_tokens: args.max_new_tokens,
                verifiable_coef: args.verifiable_coef,
            };
            options(
                Path::new(""),
                &args.policy,
                &args.common,
                &ObjectiveKind::Grpo(Box::new(settings)),
            )?
        }
    };
    if let Some(backend) = trl {
        if options.resume {
            bail!("--resume: a TRL run starts over; run the same command without --resume");
        }
        let report = train_with_trl(&options, &backend)?;
        println!(
            "{}",
            json!({
                "out": options.out.display().to_string(),
                "backend": "trl",
                "trl_version": report.trl_version,
                "steps": report.steps,
                "final_loss": report.final_loss,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    options.stop = Some(super::ctrl_c_flag(
        "interrupted: finishing this step and saving a resume point (Ctrl-C again to quit at once)",
    )?);
    let report = train(&options)?;
    println!(
        "{}",
        json!({
            "out": report.out.display().to_string(),
            "steps": report.steps,
            "total_steps": report.total_steps,
            "final_loss": report.final_loss,
            "interrupted": report.interrupted,
            "examples": report.examples,
            "tokens": report.tokens,
        })
    );
    if report.interrupted {
        eprintln!(
            "stopped at step {} of {}: resume point saved in {}; continue with the same command and --resume",
            report.steps,
            report.total_steps,
            report.out.display()
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}
