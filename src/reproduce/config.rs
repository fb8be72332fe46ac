//! `reproduce.toml`: what `r2l reproduce` runs and at what size. Two presets (quick: fits 30
//! minutes on a 2-core CPU; full: what a GPU box or remote teachers run); a config file
//! overrides any field of the preset it starts from, and unknown keys are errors naming the field.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReproduceConfig {
    /// The model the student starts from: `default` (the setup step's SmolLM2-135M) or a
    /// checkpoint directory.
    pub base: String,
    /// In-situ quantization `r2l serve` applies to the base and the student alike.
    pub isq: String,
    /// Baselines and student evaluation: the same slices for both.
    pub eval: EvalConfig,
    /// The R2L distillation.
    pub distill: DistillConfig,
    /// Supervised fine-tuning of the base on `sft.jsonl`.
    pub sft: TrainConfig,
    /// DPO of the SFT student on `dpo.jsonl` (full mode); absent = skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpo: Option<TrainConfig>,
}

/// The evaluation slices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Task names (free-form and constrained variants alike), each on its default split.
    pub tasks: Vec<String>,
    /// Samples per task (a seeded shuffle); absent = the whole split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Seed of the sample selection.
    pub sample_seed: u64,
    /// Requests in flight per evaluation.
    pub concurrency: usize,
}

/// The R2L distillation step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistillConfig {
    /// An ABSA task.
    pub task: String,
    /// The split distilled (never the evaluated one).
    pub split: String,
    /// Samples distilled; absent = the whole split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Seed of the sample selection (the gold fine-tuning data uses the same samples).
    #[serde(default)]
    pub sample_seed: u64,
    /// Debate rounds on conflicting aspects.
    pub rounds: usize,
    /// Ask for rationales reaching the gold labels of rejected samples (STaR), so they train
    /// the student too.
    pub rationalize: bool,
    /// Agents file (remote teachers); absent = the built-in offline agents on the default model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<PathBuf>,
    /// Teacher calls in flight; absent = the distill command's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
}

/// One training step's hyperparameters (the `r2l train` flags).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// LoRA rank; 0 = full fine-tuning.
    pub lora_rank: usize,
    /// Passes over the data.
    pub epochs: usize,
    /// Stop after this many optimizer steps; absent = the epochs decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<usize>,
    /// Peak learning rate; absent = the trainer's default (2e-4 SFT, 5e-6 DPO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Examples per micro-batch.
    pub batch: usize,
    /// Micro-batches per optimizer step.
    pub grad_accum: usize,
    /// Seed of data order and adapter initialisation.
    pub seed: u64,
}

impl ReproduceConfig {
    /// The quick preset: minutes, not hours, on a 2-core CPU with the embedded model.
    pub fn quick() -> ReproduceConfig {
        ReproduceConfig {
            base: "default".to_string(),
            isq: "q8_0".to_string(),
            eval: EvalConfig {
                tasks: [
                    "uit-visfd",
                    "uit-visfd-constrained",
                    "absabank-imm",
                    "absabank-imm-constrained",
                ]
                .map(String::from)
                .to_vec(),
                limit: Some(QUICK_EVAL_LIMIT),
                sample_seed: 0,
                concurrency: 1,
            },
            distill: DistillConfig {
                task: "uit-visfd".to_string(),
                split: "train".to_string(),
                limit: Some(QUICK_DISTILL_LIMIT),
                sample_seed: 0,
                rounds: 1,
                rationalize: true,
                agents: None,
                concurrency: None,
            },
            sft: TrainConfig {
                lora_rank: 16,
                epochs: 2,
                max_steps: Some(QUICK_SFT_STEPS),
                lr: None,
                batch: 2,
                grad_accum: 1,
                seed: 0,
            },
            dpo: None,
        }
    }

    /// The full preset: the paper-sized run (remote teachers or a GPU box).
    pub fn full() -> ReproduceConfig {
        let mut config = ReproduceConfig::quick();
        config
            .eval
            .tasks
            .extend(["vlsp2018-restaurant", "vlsp2018-restaurant-constrained"].map(String::from));
        config.eval.limit = None;
        config.distill.limit = None;
        config.distill.rounds = 2;
        config.sft = TrainConfig {
            max_steps: None,
            batch: 4,
            ..config.sft
        };
        config.dpo = Some(TrainConfig {
            lora_rank: 16,
            epochs: 1,
            max_steps: None,
            lr: None,
            batch: 2,
            grad_accum: 2,
            seed: 0,
        });
        config
    }

    /// The preset, overridden by `file` when given (relative paths in it resolve against it).
    pub fn load(quick: bool, file: Option<&Path>) -> Result<ReproduceConfig> {
        let preset = if quick {
            ReproduceConfig::quick()
        } else {
            ReproduceConfig::full()
        };
        let Some(file) = file else {
            preset.check("the preset")?;
            return Ok(preset);
        };
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let overrides: toml::Table = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            anyhow::anyhow!(
                "{}: {}{}",
                file.display(),
                e.message(),
                line.map(|l| format!(" (line {l})")).unwrap_or_default()
            )
        })?;
        let mut merged = toml::Table::try_from(&preset).context("the preset as TOML")?;
        merge(&mut merged, overrides);
        let source = file.display().to_string();
        let mut config: ReproduceConfig =
            harness::task::parse_toml(&toml::to_string(&merged)?, &source)?;
        let dir = file.parent().unwrap_or(Path::new("."));
        if let Some(agents) = &config.distill.agents {
            config.distill.agents = Some(dir.join(agents));
        }
        if config.base != "default" {
            config.base = dir.join(&config.base).display().to_string();
        }
        config.check(&source)?;
        Ok(config)
    }

    /// Checks what serde cannot: non-empty task list, non-zero sizes.
    fn check(&self, source: &str) -> Result<()> {
        if self.eval.tasks.is_empty() {
            bail!("{source}: field `eval.tasks`: list at least one task");
        }
        if self.eval.limit == Some(0) || self.distill.limit == Some(0) {
            bail!("{source}: field `limit`: must be at least 1 (leave it out for the whole split)");
        }
        if self.eval.concurrency == 0 {
            bail!("{source}: field `eval.concurrency`: must be at least 1");
        }
        if let Some(agents) = &self.distill.agents {
            // Read now (it must name a teacher), so a bad agents file fails before any model
            // loads.
            distill::agents::read_agents_file(agents)
                .with_context(|| format!("{source}: field `distill.agents`"))?;
        }
        for (name, train) in [("sft", Some(&self.sft)), ("dpo", self.dpo.as_ref())] {
            if let Some(train) = train {
                if train.batch == 0 || train.grad_accum == 0 || train.epochs == 0 {
                    bail!(
                        "{source}: field `{name}`: batch, grad_accum and epochs must be at least 1"
                    );
                }
            }
        }
        Ok(())
    }
}

/// Samples per evaluated task in quick mode.
pub const QUICK_EVAL_LIMIT: usize = 16;
/// UIT-ViSFD train samples distilled in quick mode.
pub const QUICK_DISTILL_LIMIT: usize = 4;
/// SFT optimizer steps in quick mode.
pub const QUICK_SFT_STEPS: usize = 12;

/// Deep-merges `overrides` into `base` (tables merge key by key; anything else replaces).
fn merge(base: &mut toml::Table, overrides: toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(value)) => merge(inner, value),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("reproduce.toml");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        (dir, path)
    }

    #[test]
    fn a_file_overrides_single_fields_of_the_preset() {
        let (dir, path) = write("[eval]\nlimit = 4\n[distill]\nagents = \"agents.toml\"\n");
        std::fs::write(
            dir.path().join("agents.toml"),
            "[[agents]]\nid = \"a\"\nrole = \"teacher\"\nlocal = \"default\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let config = ReproduceConfig::load(true, Some(&path)).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(config.eval.limit, Some(4));
        assert_eq!(config.eval.tasks, ReproduceConfig::quick().eval.tasks);
        assert_eq!(config.distill.agents, Some(dir.path().join("agents.toml")));
        assert_eq!(config.sft, ReproduceConfig::quick().sft);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_field() {
        let (_dir, path) = write("[sft]\nlora_rnak = 8\n");
        let error = format!(
            "{:#}",
            ReproduceConfig::load(true, Some(&path))
                .err()
                .unwrap_or_else(|| panic!("accepted"))
        );
        assert!(
            error.contains("lora_rnak") && error.contains("reproduce.toml"),
            "{error}"
        );
        let (_dir, path) = write("[eval]\ntasks = []\n");
        let error = format!(
            "{:#}",
            ReproduceConfig::load(true, Some(&path))
                .err()
                .unwrap_or_else(|| panic!("accepted"))
        );
        assert!(error.contains("eval.tasks"), "{error}");
        let (_dir, path) = write("[eval\n");
        let error = format!(
            "{:#}",
            ReproduceConfig::load(true, Some(&path))
                .err()
                .unwrap_or_else(|| panic!("accepted"))
        );
        assert!(error.contains("line 1"), "{error}");
    }

    #[test]
    fn an_agents_file_without_teachers_is_refused_naming_the_field() {
        let (dir, path) = write("[distill]\nagents = \"agents.toml\"\n");
        std::fs::write(
            dir.path().join("agents.toml"),
            "[[agents]]\nid = \"judge\"\nrole = \"meta\"\nlocal = \"default\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let error = format!(
            "{:#}",
            ReproduceConfig::load(true, Some(&path))
                .err()
                .unwrap_or_else(|| panic!("accepted"))
        );
        assert!(
            error.contains("distill.agents") && error.contains("teacher"),
            "{error}"
        );
    }

    #[test]
    fn full_mode_adds_dpo_and_vlsp() {
        let full = ReproduceConfig::full();
        assert!(full.dpo.is_some());
        assert!(full.eval.tasks.iter().any(|t| t == "vlsp2018-restaurant"));
        assert_eq!(full.eval.limit, None);
    }
}
