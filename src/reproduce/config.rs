//! `reproduce.toml`: what `r2l reproduce PAPER` runs and at what size. Every paper has two
//! presets (quick: fits the 2-core reference machine; full: what a GPU box or remote teachers
//! run, see `papers`); a config file overrides any field of the preset it starts from. Unknown
//! keys are errors naming the field, and so is a field that belongs to another paper's table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::papers::Paper;

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
    /// R2L: DPO of the SFT student on `dpo.jsonl` (full mode); absent = skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpo: Option<TrainConfig>,
    /// Debate & Reflect: T-DPO of the `dr-sft` student on the debate's `dpo.jsonl` (the
    /// `dr-tdpo` row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tdpo: Option<TrainConfig>,
    /// AgentArk: the process reward model trained on the debate's `stepwise.jsonl` (the `pad`
    /// row's reward).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prm: Option<TrainConfig>,
    /// AgentArk: RL of the `r-sft` student with the PRM's reward (the `pad` row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rl: Option<RlConfig>,
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
    /// Per-task sample counts that replace `limit` (e.g. the paper's primary task sized for a
    /// significant difference).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub task_limits: BTreeMap<String, usize>,
    /// At most this many samples per task for the side rows (every row but the base and the
    /// paper's student): quick runs measure those on smaller slices, and the table shows each
    /// row's n. Absent = the same slices as the main rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side_limit: Option<usize>,
    /// Seed of the sample selection.
    pub sample_seed: u64,
    /// Requests in flight per evaluation.
    pub concurrency: usize,
}

/// The distillation step (the paper's protocol).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistillConfig {
    /// The task distilled (an ABSA task for R2L, a reasoning task for the others).
    pub task: String,
    /// The split distilled (never the evaluated one).
    pub split: String,
    /// Samples distilled; absent = the whole split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Seed of the sample selection (the gold fine-tuning data uses the same samples).
    #[serde(default)]
    pub sample_seed: u64,
    /// Rounds after round 0 (R2L: revision rounds on conflicting aspects; Debate & Reflect:
    /// debate rounds; AgentArk: update rounds).
    pub rounds: usize,
    /// R2L: ask for rationales reaching the gold labels of rejected samples (STaR), so they
    /// train the student too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationalize: Option<bool>,
    /// AgentArk: trajectory augmentation of the `r-sft-aug` row (up to K more right solutions
    /// per R-SFT question).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<usize>,
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
    /// Share of the steps spent warming the learning rate up; absent = the trainer's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_ratio: Option<f64>,
    /// Examples per micro-batch.
    pub batch: usize,
    /// Micro-batches per optimizer step.
    pub grad_accum: usize,
    /// Seed of data order and adapter initialisation.
    pub seed: u64,
    /// The trainer of an SFT or DPO step: `candle` (absent: in-process) or `trl` (TRL's command
    /// line in `python`'s environment; see `r2l train --backend`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// The Python interpreter of the `trl` backend (absent: `python3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<PathBuf>,
    /// An accelerate config file for the `trl` backend (GPUs, DeepSpeed, FSDP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accelerate_config: Option<PathBuf>,
}

/// The RL step (`r2l train grpo`): the policy samples groups of answers to the distilled task's
/// questions and learns from their verifiable and PRM rewards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RlConfig {
    /// Questions of the distilled split (a seeded selection); absent = the whole split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// LoRA rank; 0 = full fine-tuning.
    pub lora_rank: usize,
    /// Stop after this many optimizer steps (one prompt's group each); absent = one epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<usize>,
    /// Peak learning rate; absent = the trainer's default (AgentArk's 5e-7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Answers sampled per prompt.
    pub group: usize,
    /// `grpo` (group z-score) or `rloo` (leave-one-out).
    pub advantage: String,
    /// Weight of the KL to the starting policy.
    pub kl: f64,
    /// Sampling temperature of the rollouts.
    pub temperature: f64,
    /// Longest answer in tokens.
    pub max_new_tokens: usize,
    /// Seed of the question order, the sampling and the adapters.
    pub seed: u64,
}

impl EvalConfig {
    /// The samples evaluated of `task` (None = the whole split), for a main row or a side row.
    pub fn limit_for(&self, task: &str, side_row: bool) -> Option<usize> {
        let main = self.task_limits.get(task).copied().or(self.limit);
        match (main, self.side_limit.filter(|_| side_row)) {
            (Some(n), Some(cap)) => Some(n.min(cap)),
            (None, cap) => cap,
            (n, None) => n,
        }
    }
}

impl ReproduceConfig {
    /// The sizes in one line (printed when a run starts, and in the summary).
    pub fn sizes(&self) -> String {
        let count = |n: Option<usize>| n.map_or("all".to_string(), |n| n.to_string());
        let mut eval = format!("eval {} samples per task", count(self.eval.limit));
        for (task, n) in &self.eval.task_limits {
            eval.push_str(&format!(", {n} of {task}"));
        }
        if let Some(side) = self.eval.side_limit {
            eval.push_str(&format!(" (side rows at most {side})"));
        }
        format!(
            "{eval} on {}; distill {} samples of {} {} ({} round(s) after round 0); SFT {} steps (LoRA rank {})",
            self.eval.tasks.join(", "),
            count(self.distill.limit),
            self.distill.task,
            self.distill.split,
            self.distill.rounds,
            count(self.sft.max_steps),
            self.sft.lora_rank,
        )
    }

    /// `paper`'s preset, overridden by `file` when given (relative paths in it resolve against
    /// it). A field of another paper's table in the file is an error naming the field.
    pub fn load(paper: Paper, quick: bool, file: Option<&Path>) -> Result<ReproduceConfig> {
        let preset = paper.preset(quick);
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
        let source = file.display().to_string();
        for (field, owner) in PAPER_FIELDS {
            let given = match field.split_once('.') {
                Some((table, key)) => overrides
                    .get(table)
                    .and_then(|t| t.as_table())
                    .is_some_and(|t| t.contains_key(key)),
                None => overrides.contains_key(*field),
            };
            if given && *owner != paper {
                bail!(
                    "{source}: field `{field}` belongs to the {} paper's table; `r2l reproduce {}` has no such field",
                    owner.name(),
                    paper.name()
                );
            }
        }
        let mut merged = toml::Table::try_from(&preset).context("the preset as TOML")?;
        merge(&mut merged, overrides);
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

    /// Checks what serde cannot: non-empty task list, non-zero sizes, a readable agents file.
    fn check(&self, source: &str) -> Result<()> {
        if self.eval.tasks.is_empty() {
            bail!("{source}: field `eval.tasks`: list at least one task");
        }
        let zero_limit = self.eval.task_limits.values().any(|n| *n == 0)
            || [self.eval.limit, self.eval.side_limit, self.distill.limit].contains(&Some(0));
        if zero_limit {
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
        let trainings = [
            ("sft", Some(&self.sft)),
            ("dpo", self.dpo.as_ref()),
            ("tdpo", self.tdpo.as_ref()),
            ("prm", self.prm.as_ref()),
        ];
        for (name, train) in trainings {
            if let Some(train) = train {
                if train.batch == 0 || train.grad_accum == 0 || train.epochs == 0 {
                    bail!(
                        "{source}: field `{name}`: batch, grad_accum and epochs must be at least 1"
                    );
                }
                match (train.backend.as_deref(), name) {
                    (None | Some("candle"), _) | (Some("trl"), "sft" | "dpo" | "tdpo") => {}
                    (Some("trl"), _) => bail!(
                        "{source}: field `{name}.backend`: TRL trains the SFT and DPO steps; `{name}` runs on candle"
                    ),
                    (Some(other), _) => bail!(
                        "{source}: field `{name}.backend`: unknown backend `{other}`; valid: candle, trl"
                    ),
                }
            }
        }
        if let Some(rl) = &self.rl {
            if rl.group < 2 {
                bail!("{source}: field `rl.group`: at least 2 answers per prompt (advantages compare them)");
            }
            if !["grpo", "rloo"].contains(&rl.advantage.as_str()) {
                bail!(
                    "{source}: field `rl.advantage`: `{}` is not grpo or rloo",
                    rl.advantage
                );
            }
            if rl.limit == Some(0) || rl.max_steps == Some(0) || rl.max_new_tokens == 0 {
                bail!(
                    "{source}: field `rl`: limit, max_steps and max_new_tokens must be at least 1"
                );
            }
        }
        Ok(())
    }
}

/// Fields that only one paper's table has: (dotted field, its paper).
const PAPER_FIELDS: &[(&str, Paper)] = &[
    ("dpo", Paper::R2l),
    ("distill.rationalize", Paper::R2l),
    ("tdpo", Paper::Debate),
    ("distill.augment", Paper::AgentArk),
    ("prm", Paper::AgentArk),
    ("rl", Paper::AgentArk),
];

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

    /// The error loading `text` as `paper`'s config file (panics when it is accepted).
    fn refused(paper: Paper, text: &str) -> String {
        let (_dir, path) = write(text);
        format!(
            "{:#}",
            ReproduceConfig::load(paper, true, Some(&path))
                .err()
                .unwrap_or_else(|| panic!("accepted"))
        )
    }

    #[test]
    fn a_file_overrides_single_fields_of_the_preset() {
        let (dir, path) = write("[eval]\nlimit = 4\n[distill]\nagents = \"agents.toml\"\n");
        std::fs::write(
            dir.path().join("agents.toml"),
            "[[agents]]\nid = \"a\"\nrole = \"teacher\"\nlocal = \"default\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let config = ReproduceConfig::load(Paper::R2l, true, Some(&path))
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(config.eval.limit, Some(4));
        assert_eq!(config.eval.tasks, Paper::R2l.preset(true).eval.tasks);
        assert_eq!(config.distill.agents, Some(dir.path().join("agents.toml")));
        assert_eq!(config.sft, Paper::R2l.preset(true).sft);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_field() {
        let error = refused(Paper::R2l, "[sft]\nlora_rnak = 8\n");
        assert!(
            error.contains("lora_rnak") && error.contains("reproduce.toml"),
            "{error}"
        );
        let error = refused(Paper::R2l, "[eval]\ntasks = []\n");
        assert!(error.contains("eval.tasks"), "{error}");
        let error = refused(Paper::R2l, "[eval\n");
        assert!(error.contains("line 1"), "{error}");
    }

    #[test]
    fn rl_settings_are_checked_naming_the_field() {
        let error = refused(Paper::AgentArk, "[rl]\ngroup = 1\n");
        assert!(error.contains("rl.group"), "{error}");
        let error = refused(Paper::AgentArk, "[rl]\nadvantage = \"ppo\"\n");
        assert!(
            error.contains("rl.advantage") && error.contains("ppo"),
            "{error}"
        );
        let (_dir, path) = write("[rl]\nmax_steps = 2\n[prm]\nepochs = 1\n");
        let config = ReproduceConfig::load(Paper::AgentArk, true, Some(&path))
            .unwrap_or_else(|e| panic!("{e:#}"));
        let rl = config.rl.unwrap_or_else(|| panic!("no rl"));
        assert_eq!((rl.max_steps, rl.group), (Some(2), 8));
        assert_eq!(config.prm.map(|p| p.epochs), Some(1));
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
            ReproduceConfig::load(Paper::R2l, true, Some(&path))
                .err()
                .unwrap_or_else(|| panic!("accepted"))
        );
        assert!(
            error.contains("distill.agents") && error.contains("teacher"),
            "{error}"
        );
    }

    #[test]
    fn the_training_backend_is_checked_per_step() {
        let error_of = |text: &str, paper: Paper| {
            let (_dir, path) = write(text);
            ReproduceConfig::load(paper, true, Some(&path))
                .err()
                .map(|e| format!("{e:#}"))
        };
        let (_dir, path) = write("[sft]\nbackend = \"trl\"\npython = \"/opt/venv/bin/python\"\n");
        let config = ReproduceConfig::load(Paper::R2l, true, Some(&path))
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(config.sft.backend.as_deref(), Some("trl"));
        assert_eq!(
            config.sft.python.as_deref(),
            Some(std::path::Path::new("/opt/venv/bin/python"))
        );
        let error = error_of("[sft]\nbackend = \"tensorflow\"\n", Paper::R2l).unwrap_or_default();
        assert!(
            error.contains("field `sft.backend`: unknown backend `tensorflow`; valid: candle, trl"),
            "{error}"
        );
        let error = error_of("[prm]\nbackend = \"trl\"\n", Paper::AgentArk).unwrap_or_default();
        assert!(
            error.contains("field `prm.backend`: TRL trains the SFT and DPO steps"),
            "{error}"
        );
    }

    #[test]
    fn a_field_of_another_papers_table_is_refused_naming_it() {
        let (_dir, path) =
            write("[dpo]\nlora_rank = 8\nepochs = 1\nbatch = 1\ngrad_accum = 1\nseed = 0\n");
        let error = format!(
            "{:#}",
            ReproduceConfig::load(Paper::Debate, true, Some(&path))
                .err()
                .unwrap_or_else(|| panic!("accepted"))
        );
        assert!(
            error.contains("`dpo`") && error.contains("r2l paper") && error.contains("debate"),
            "{error}"
        );
        let error = refused(Paper::R2l, "[distill]\naugment = 2\n");
        assert!(
            error.contains("distill.augment") && error.contains("agentark"),
            "{error}"
        );
        let error = refused(Paper::Debate, "[rl]\ngroup = 4\n");
        assert!(
            error.contains("`rl`") && error.contains("agentark"),
            "{error}"
        );
        let (_dir, path) = write("[distill]\naugment = 3\n");
        let config = ReproduceConfig::load(Paper::AgentArk, true, Some(&path))
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(config.distill.augment, Some(3));
    }
}
