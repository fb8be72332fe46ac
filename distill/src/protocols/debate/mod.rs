//! Debate & Reflect (ACL Findings 2025) for reasoning tasks, per question:
//!
//! - Round 0: every agent (the teachers and the student) answers with the task's own prompt.
//! - After a round, each answer is judged against gold with the harness task's parser and
//!   judge. If every agent that answered is right, or round R is reached, the debate ends.
//!   Otherwise every right agent critiques each wrong one, and every wrong agent reflects on
//!   its answer, shown the gold answer (as the paper does).
//! - Rounds 1..R: every agent sees the last round's answers with their reflections and the
//!   feedback they received (agents shuffled with the seed) and answers again.
//!
//! Records: T-DPO pairs, SFT answers and the static-distillation baseline (see [`records`]);
//! the last round's majority answer per question goes to `predictions.jsonl`.

mod context;
mod prompts;
mod records;
mod stats;
mod transcript;

use std::path::Path;
use std::sync::Arc;

use futures::future::{try_join, try_join_all, BoxFuture, FutureExt};
use harness::data::{AnswerKind, Sample};
use harness::metrics::BootstrapConfig;
use harness::task::Task;
use serde_json::{Map, Value};

pub use context::{entries, entry, join, pack, record_entries, ContextTokenizer};
pub use stats::{debate_stats, DebateStats};
pub use transcript::{Round, Stop, Transcript, Turn};

use crate::agents::{Agent, Team, DEFAULT_AGENTS_TOML};
use crate::call::{CallSite, Caller, Halt};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::protocols::reasoning::{
    ask_answer, ask_feedback, gold_answer, reasoning_kind, seeded_order,
};
use crate::protocols::team_answer::{majority_text, prediction_line};
use crate::protocols::{
    parse_transcripts, task_prompt, task_question, Figures, Protocol, ProtocolEntry,
    ProtocolSettings,
};
use crate::store::Finished;

/// Rounds after round 0 when `--rounds` is not given (the paper's three).
pub const DEFAULT_ROUNDS: usize = 3;
/// The T-DPO prompt budget (tokens of the student's tokenizer) when `--prompt-token-budget` is
/// not given: D&R's 1,000.
pub const DEFAULT_PROMPT_BUDGET: usize = 1000;
/// The smallest prompt budget (tokens): an entry's answer and notes keep 47 % of it each.
pub const MIN_PROMPT_BUDGET: usize = 20;
/// The phases shown as progress bars.
pub const PHASES: [&str; 3] = ["round 0", "debate", "records"];

/// Debate & Reflect's registry entry.
pub static ENTRY: ProtocolEntry = ProtocolEntry {
    name: "debate",
    summary: "Debate & Reflect (ACL Findings 2025): debate with critiques and reflections, T-DPO pairs, on reasoning tasks",
    check_task: |task| reasoning_kind(task, "debate").map(|_| ()),
    phases: &PHASES,
    default_agents: ("built-in:agents.toml", DEFAULT_AGENTS_TOML),
};

/// Debate & Reflect's settings.
#[derive(Debug, Clone)]
pub struct DebateSettings {
    /// Rounds after round 0.
    pub rounds: usize,
    /// Most tokens of earlier-round context in one T-DPO prompt, counted by `tokenizer` (the
    /// cut and packing rules are D&R's, see the `context` module).
    pub prompt_budget: usize,
    /// The student's tokenizer, which counts the budget.
    pub tokenizer: ContextTokenizer,
}

impl DebateSettings {
    /// The paper's settings ([`DEFAULT_ROUNDS`] rounds, a budget of [`DEFAULT_PROMPT_BUDGET`]
    /// tokens) counted with `tokenizer`.
    pub fn new(tokenizer: ContextTokenizer) -> DebateSettings {
        DebateSettings {
            rounds: DEFAULT_ROUNDS,
            prompt_budget: DEFAULT_PROMPT_BUDGET,
            tokenizer,
        }
    }
}

impl ProtocolSettings for DebateSettings {
    fn entry(&self) -> &'static ProtocolEntry {
        &ENTRY
    }

    fn build(&self, task: &Task, team: &Team) -> Result<Box<dyn Protocol>> {
        Ok(Box::new(Debate::new(task, team, self.clone())?))
    }
}

/// A Debate & Reflect run's agents and settings.
pub struct Debate {
    task: Task,
    kind: AnswerKind,
    agents: Vec<Arc<Agent>>,
    settings: DebateSettings,
}

impl Debate {
    /// Checks that `task` is a reasoning task and that at least two agents debate.
    pub fn new(task: &Task, team: &Team, settings: DebateSettings) -> Result<Debate> {
        let kind = reasoning_kind(task, "debate")?;
        let agents: Vec<Arc<Agent>> = team
            .teachers
            .iter()
            .chain(&team.students)
            .cloned()
            .collect();
        if agents.len() < 2 {
            return Err(Error::InvalidInput(format!(
                "the debate protocol needs at least two agents with role \"teacher\" or \"student\" in {}; it has {}",
                team.source,
                agents.len()
            )));
        }
        if settings.prompt_budget < MIN_PROMPT_BUDGET {
            return Err(Error::InvalidInput(format!(
                "--prompt-token-budget must be at least {MIN_PROMPT_BUDGET} tokens, got {}",
                settings.prompt_budget
            )));
        }
        Ok(Debate {
            task: task.clone(),
            kind,
            agents,
            settings,
        })
    }

    fn role(agent: &Agent) -> String {
        agent.spec.role.name().to_string()
    }

    /// Debates one question and builds its records.
    async fn run(
        &self,
        caller: &Caller,
        sample: &Sample,
        progress: &Progress,
    ) -> std::result::Result<Finished, Halt> {
        let (budget, tokenizer) = (self.settings.prompt_budget, &self.settings.tokenizer);
        let fatal = |e: Error| Halt::Fatal(e.to_string());
        let mut rounds: Vec<Round> = Vec::new();
        let mut stop = Stop::LastRound;
        for number in 0..=self.settings.rounds {
            let (context_order, context) = match rounds.last() {
                None => (Vec::new(), None),
                Some(previous) => {
                    let answered: Vec<String> = previous
                        .turns
                        .iter()
                        .filter(|t| t.answer.answered())
                        .map(|t| t.answer.agent.clone())
                        .collect();
                    let order: Vec<String> =
                        seeded_order(caller.seed(), &sample.id, number, &answered)
                            .into_iter()
                            .map(|k| answered[k].clone())
                            .collect();
                    let shown = join(&entries(previous, &order, budget, tokenizer).map_err(fatal)?);
                    (order, Some(shown))
                }
            };
            let phase = format!("round-{number}");
            let site = CallSite {
                sample: &sample.id,
                phase: &phase,
            };
            let answers = try_join_all(self.agents.iter().map(|agent| {
                let conversation = match &context {
                    None => task_prompt(&self.task, sample, agent),
                    Some(shown) => prompts::debate(&self.task, sample, agent, shown),
                };
                ask_answer(
                    caller,
                    agent,
                    site,
                    conversation,
                    &self.task,
                    sample,
                    self.kind,
                )
            }))
            .await?;
            let turns = self
                .agents
                .iter()
                .zip(answers)
                .map(|(agent, answer)| Turn {
                    role: Debate::role(agent),
                    answer,
                    reflection: None,
                    critiques_given: Vec::new(),
                    critiques_received: Vec::new(),
                })
                .collect();
            rounds.push(Round {
                round: number,
                context_order,
                turns,
            });
            progress.phase_done(if number == 0 { "round 0" } else { "debate" });
            let Some(round) = rounds.last_mut() else {
                break;
            };
            if !round.turns.iter().any(|t| t.answer.answered()) {
                stop = Stop::NoAnswers;
                break;
            }
            if !round.turns.iter().any(|t| t.answer.incorrect()) {
                stop = Stop::AllCorrect;
                break;
            }
            if number == self.settings.rounds {
                break;
            }
            self.feedback(caller, sample, round).await?;
        }
        let mut transcript = Transcript {
            id: sample.id.clone(),
            protocol: "debate".to_string(),
            gold: gold_answer(sample),
            rounds,
            stop,
            records: Default::default(),
        };
        let lines =
            records::build(&self.task, sample, &transcript, budget, tokenizer).map_err(fatal)?;
        transcript.records = lines.counts();
        progress.phase_done("records");
        Finished::new(&sample.id, &transcript, lines)
    }

    /// After a round with wrong answers: critiques from every right agent to every wrong one,
    /// and a self-reflection from every wrong agent.
    async fn feedback(
        &self,
        caller: &Caller,
        sample: &Sample,
        round: &mut Round,
    ) -> std::result::Result<(), Halt> {
        let question = task_question(&self.task, sample);
        let gold = gold_answer(sample);
        let critique_phase = format!("critique-{}", round.round);
        let reflection_phase = format!("reflection-{}", round.round);
        let text_of = |k: usize| round.turns[k].answer.text.clone().unwrap_or_default();
        let right: Vec<usize> = (0..round.turns.len())
            .filter(|&k| round.turns[k].answer.answered() && round.turns[k].answer.correct)
            .collect();
        let wrong: Vec<usize> = (0..round.turns.len())
            .filter(|&k| round.turns[k].answer.incorrect())
            .collect();
        let critiques = try_join_all(
            right
                .iter()
                .flat_map(|&from| wrong.iter().map(move |&to| (from, to)))
                .map(|(from, to)| {
                    let agent = &self.agents[from];
                    let conversation =
                        prompts::critique(agent, &question, &text_of(from), &text_of(to));
                    let site = CallSite {
                        sample: &sample.id,
                        phase: &critique_phase,
                    };
                    let about = self.agents[to].id();
                    async move {
                        ask_feedback(caller, agent, about, site, conversation)
                            .await
                            .map(|feedback| (from, to, feedback))
                    }
                }),
        );
        let reflections = try_join_all(wrong.iter().map(|&k| {
            let agent = &self.agents[k];
            let conversation = prompts::reflection(agent, &question, &gold, &text_of(k));
            let site = CallSite {
                sample: &sample.id,
                phase: &reflection_phase,
            };
            async move {
                ask_feedback(caller, agent, agent.id(), site, conversation)
                    .await
                    .map(|feedback| (k, feedback))
            }
        }));
        let (critiques, reflections) = try_join(critiques, reflections).await?;
        for (from, to, feedback) in critiques {
            if feedback.text.is_some() {
                let author = feedback.from.clone();
                round.turns[to].critiques_received.push(author);
            }
            round.turns[from].critiques_given.push(feedback);
        }
        for (k, feedback) in reflections {
            round.turns[k].reflection = Some(feedback);
        }
        Ok(())
    }
}

impl Protocol for Debate {
    fn entry(&self) -> &'static ProtocolEntry {
        &ENTRY
    }

    /// Rounds, the T-DPO prompt budget and the tokenizer that counts it.
    fn settings(&self) -> Map<String, Value> {
        let mut settings = Map::new();
        settings.insert("rounds".to_string(), self.settings.rounds.into());
        settings.insert(
            "prompt_token_budget".to_string(),
            self.settings.prompt_budget.into(),
        );
        settings.insert(
            "context_tokenizer_sha256".to_string(),
            self.settings.tokenizer.sha256().into(),
        );
        settings
    }

    fn run_sample<'a>(
        &'a self,
        caller: &'a Caller,
        sample: &'a Sample,
        progress: &'a Progress,
    ) -> BoxFuture<'a, std::result::Result<Finished, Halt>> {
        self.run(caller, sample, progress).boxed()
    }

    /// Stops, accuracy per round, critiques and reflections.
    fn figures(
        &self,
        transcripts: Vec<Value>,
        path: &Path,
        _bootstrap: Option<&BootstrapConfig>,
    ) -> Result<Figures> {
        let figures = debate_stats(&parse_transcripts::<Transcript>(transcripts, path)?);
        Ok(Figures {
            value: serde_json::to_value(&figures).map_err(|e| Error::Fatal(e.to_string()))?,
            parse_failures: figures.parse_failures,
        })
    }

    /// The majority answer of the debate's last round (teachers and student alike).
    fn predictions(&self, transcripts: &[Value], path: &Path) -> Result<Option<Vec<Value>>> {
        let transcripts = parse_transcripts::<Transcript>(transcripts.to_vec(), path)?;
        Ok(Some(
            transcripts
                .iter()
                .map(|transcript| {
                    let last = transcript.rounds.last().into_iter();
                    let answers = last.flat_map(|round| round.turns.iter().map(|t| &t.answer));
                    prediction_line(&transcript.id, majority_text(answers))
                })
                .collect(),
        ))
    }
}
