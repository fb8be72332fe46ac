//! Scripted agents for the reasoning protocols (real HTTP servers on 127.0.0.1) that answer the
//! debate's prompts from the gold answers of the real GSM8K train split, and a runner.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use chat::{ChatRequest, Reply};
use distill::protocols::agentark::AgentArkSettings;
use distill::protocols::debate::{ContextTokenizer, DebateSettings};
use distill::protocols::ProtocolSettings;
use distill::{DistillOptions, Outcome};
use harness::data::{load, DatasetName, Target};
use harness::task::select;

use crate::support::{data_dir, run_task, Teacher};

/// Questions used by the tests: the first `QUESTIONS` of the seed-0 shuffle of GSM8K train.
pub const QUESTIONS: usize = 8;

/// One selected question: its id, text and gold answer.
pub struct Question {
    /// Sample id.
    pub id: String,
    /// The question text (what the prompts carry).
    pub input: String,
    /// The gold integer answer.
    pub gold: i64,
}

/// The selected questions, in selection order.
pub static SELECTED: LazyLock<Vec<Question>> = LazyLock::new(|| {
    let dataset = load(DatasetName::Gsm8k, "train", &data_dir())
        .unwrap_or_else(|e| panic!("loading gsm8k train: {e}"));
    select(&dataset.samples, Some(QUESTIONS), 0)
        .into_iter()
        .map(|sample| {
            let Target::Answer { value } = &sample.target else {
                panic!("gsm8k sample {} has no answer", sample.id)
            };
            Question {
                id: sample.id.clone(),
                input: sample.input.clone(),
                gold: value
                    .replace(',', "")
                    .parse()
                    .unwrap_or_else(|e| panic!("gold `{value}`: {e}")),
            }
        })
        .collect()
});

/// How a scripted agent answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Solver {
    /// Gold, always.
    Right,
    /// Gold, in `Right`'s words with other spacing (the same solution after normalisation).
    RightSpaced,
    /// Gold + 1, always.
    Wrong,
    /// Right on questions at even positions of the selection, wrong on odd ones.
    RightOnEven,
    /// Wrong at first; right once it has seen the other agents' answers.
    Learner,
    /// Prose without any number: no final answer can be read.
    Prose,
    /// A 200 whose body is not JSON, always.
    MalformedBody,
    /// Like `Right`, but 30 % of first attempts fail with 500, 429 or a timeout.
    Flaky,
}

/// What a request asks, told apart by its last user turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// The task's own prompt (round 0).
    First,
    /// A later round: the debate's context or AgentArk's update.
    Again,
    /// AgentArk's aggregation.
    Aggregate,
    /// A critique of another agent's answer.
    Critique,
    /// A self-reflection.
    Reflection,
}

fn last_user(request: &ChatRequest) -> &str {
    request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == chat::Role::User)
        .map_or("", |m| m.content.as_str())
}

/// What `request` asks.
pub fn asked(request: &ChatRequest) -> Asked {
    let user = last_user(request);
    if user.contains("An incorrect answer from another agent:") {
        Asked::Critique
    } else if user.contains("Your answer was incorrect.") {
        Asked::Reflection
    } else if user.contains("Several agents solved this task") {
        Asked::Aggregate
    } else if user.contains("You are debating this question")
        || user.contains("These are the recent solutions of the other agents")
        || user.contains("Can you verify that your answer is correct?")
    {
        Asked::Again
    } else {
        Asked::First
    }
}

/// The position of the question a request is about.
pub fn question_of(request: &ChatRequest) -> Option<usize> {
    SELECTED.iter().position(|q| {
        request
            .messages
            .iter()
            .any(|m| m.content.contains(&q.input))
    })
}

/// The text of a right (or wrong) solution of `question` in `solver`'s words.
pub fn solution(solver: Solver, asked: Asked, question: &Question, right: bool) -> String {
    let answer = if right {
        question.gold
    } else {
        question.gold + 1
    };
    match (solver, asked) {
        (_, Asked::Aggregate) => format!("Weighing the solutions above.\nAnswer: {answer}"),
        (Solver::RightSpaced, _) => format!("Working  it out\tstep by  step.\n\nAnswer:  {answer}"),
        (Solver::Learner, Asked::Again) => {
            format!("Having read the others, I fixed my mistake.\nAnswer: {answer}")
        }
        (Solver::Learner, _) => format!("My first try.\nAnswer: {answer}"),
        (Solver::Wrong, _) => format!("A quick guess.\nAnswer: {answer}"),
        _ => format!("Working it out step by step.\nAnswer: {answer}"),
    }
}

fn flaky_failure(request: &ChatRequest) -> Option<Reply> {
    let key = serde_json::to_string(&request.messages).unwrap_or_default();
    let hash = key
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    match hash % 10 {
        0 => Some(Reply::Status(500, None)),
        1 => Some(Reply::Status(429, Some(0))),
        2 => Some(Reply::Delayed(
            Duration::from_millis(1500),
            Box::new(Reply::Status(500, None)),
        )),
        _ => None,
    }
}

/// What `solver` answers to `request` (attempt = earlier tries of the same messages).
pub fn solve(solver: Solver, request: &ChatRequest, attempt: u32) -> Reply {
    let Some(position) = question_of(request) else {
        return Reply::Status(400, None);
    };
    if solver == Solver::MalformedBody {
        return Reply::Malformed;
    }
    if solver == Solver::Flaky && attempt == 0 {
        if let Some(failure) = flaky_failure(request) {
            return failure;
        }
    }
    let asked = asked(request);
    let text = match asked {
        Asked::Critique => format!("{}: step two is wrong, recheck it.", request.model),
        Asked::Reflection => format!("{}: I misread the question.", request.model),
        _ if solver == Solver::Prose => "I am not sure how to solve this one.".to_string(),
        _ => {
            let right = match solver {
                Solver::Wrong => false,
                Solver::RightOnEven => position % 2 == 0,
                Solver::Learner => asked == Asked::Again,
                _ => true,
            };
            solution(solver, asked, &SELECTED[position], right)
        }
    };
    Reply::Text(text)
}

/// Starts one scripted agent per (id, role, solver) and writes their agents file, with
/// `extra` lines in every agent.
pub fn start_solvers(agents: &[(&str, &str, Solver)], extra: &str) -> (Vec<Teacher>, String) {
    let servers: Vec<Teacher> = agents
        .iter()
        .map(|(_, _, solver)| {
            let solver = *solver;
            Teacher::scripted(move |request, attempt| solve(solver, request, attempt))
        })
        .collect();
    let named: Vec<(&str, &str, &Teacher)> = agents
        .iter()
        .zip(&servers)
        .map(|((id, role, _), server)| (*id, *role, server))
        .collect();
    let toml = crate::support::agents_toml(&named, extra);
    (servers, toml)
}

/// The student's tokenizer of the debate tests: the default model's (set up by
/// scripts/setup.sh), which counts the T-DPO context budget.
pub fn default_tokenizer() -> ContextTokenizer {
    static TOKENIZER: LazyLock<ContextTokenizer> = LazyLock::new(|| {
        let home = std::env::var_os("R2L_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/r2l")
            });
        let dir = home.join("models/SmolLM2-135M-Instruct");
        assert!(
            dir.join("tokenizer.json").is_file(),
            "the default model is not set up at {}: run scripts/setup.sh",
            dir.display()
        );
        ContextTokenizer::load(&dir).unwrap_or_else(|e| panic!("{e}"))
    });
    TOKENIZER.clone()
}

/// Debate & Reflect's settings with `rounds` rounds after round 0, the paper's budget, counted
/// by the default model's tokenizer.
pub fn debate(rounds: usize) -> DebateSettings {
    DebateSettings {
        rounds,
        ..DebateSettings::new(default_tokenizer())
    }
}

/// AgentArk's settings with `rounds` update rounds and `augment` augmentation picks.
pub fn agentark(rounds: usize, augment: usize) -> AgentArkSettings {
    AgentArkSettings { rounds, augment }
}

/// Options of a reasoning test run of `protocol` into `out`: [`QUESTIONS`] questions of GSM8K
/// train, concurrency 4, fast retries.
pub fn reasoning_options<P: ProtocolSettings + 'static>(protocol: P, out: &Path) -> DistillOptions {
    let mut options = crate::support::options(out, None, false);
    options.protocol = Arc::new(protocol);
    options.limit = Some(QUESTIONS);
    options
}

/// Runs `options` on GSM8K with the agents file `toml` and the cache `dir/cache` (panics on an
/// error).
pub fn run_gsm8k(toml: &str, dir: &Path, options: &DistillOptions) -> (PathBuf, Outcome) {
    let outcome =
        run_task("gsm8k", toml, &dir.join("cache"), options).unwrap_or_else(|e| panic!("{e}"));
    (options.out.clone(), outcome)
}

/// The position of a transcript's question in the selection.
pub fn position(transcript: &serde_json::Value) -> usize {
    let id = transcript["id"].as_str().unwrap_or_default();
    SELECTED
        .iter()
        .position(|q| q.id == id)
        .unwrap_or_else(|| panic!("question {id} is not one of the selected"))
}

/// For `protocol` with `agents` (one of them flaky): a second identical run into a new
/// directory makes no HTTP call and writes the same files; the ledger's token sums equal the
/// usage the agents returned; a budget stops the run before a call would exceed it, and the
/// same command with a larger budget ends with the files of the uninterrupted run.
pub fn check_cache_ledger_budget_resume<P: ProtocolSettings + Clone + 'static>(
    protocol: P,
    agents: &[(&str, &str, Solver)],
) {
    use crate::support::{data_files, requests};
    use distill::Status;

    let (servers, toml) = start_solvers(agents, "price_in_per_1k = 1.0\nprice_out_per_1k = 2.0\n");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (full, outcome) = run_gsm8k(
        &toml,
        dir.path(),
        &reasoning_options(protocol.clone(), &dir.path().join("full")),
    );
    assert_eq!(outcome.status, Status::Complete);
    assert_eq!(outcome.stats.n, QUESTIONS);
    for ((id, _, _), server) in agents.iter().zip(&servers) {
        let ledger = outcome.stats.ledger.get(*id).copied().unwrap_or_default();
        assert_eq!(
            ledger.prompt_tokens,
            server
                .prompt_tokens
                .load(std::sync::atomic::Ordering::Relaxed),
            "{id}: ledger prompt tokens = the usage returned"
        );
        assert_eq!(
            ledger.completion_tokens,
            server
                .completion_tokens
                .load(std::sync::atomic::Ordering::Relaxed),
            "{id}: ledger completion tokens = the usage returned"
        );
    }
    if let Some((id, _, _)) = agents.iter().find(|(_, _, s)| *s == Solver::Flaky) {
        let retried = outcome.stats.failures.get(*id).map_or(0, |f| f.retried);
        assert!(
            retried > 0,
            "the flaky agent's failures were retried and counted"
        );
    }

    let before = requests(&servers);
    let (again, second) = run_gsm8k(
        &toml,
        dir.path(),
        &reasoning_options(protocol.clone(), &dir.path().join("again")),
    );
    assert_eq!(
        requests(&servers),
        before,
        "a second identical run makes no HTTP call"
    );
    assert_eq!(data_files(&again), data_files(&full));
    assert!(second.stats.ledger.values().all(|l| l.calls == 0));

    // A budget of 40 % of the full run's cost, with a cold cache.
    let cold = dir.path().join("cold");
    std::fs::create_dir_all(&cold).unwrap_or_else(|e| panic!("{e}"));
    let mut options = reasoning_options(protocol, &dir.path().join("budget"));
    let budget = outcome.stats.cost_usd * 0.4;
    options.budget = Some(budget);
    let stopped =
        run_task("gsm8k", &toml, &cold.join("cache"), &options).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(stopped.status, Status::BudgetReached { .. }),
        "{:?}",
        stopped.status
    );
    assert!(
        stopped.stats.cost_usd <= budget,
        "{} > {budget}",
        stopped.stats.cost_usd
    );
    assert!(stopped.stats.n < QUESTIONS);
    options.budget = Some(outcome.stats.cost_usd * 10.0);
    let resumed =
        run_task("gsm8k", &toml, &cold.join("cache"), &options).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resumed.status, Status::Complete);
    assert_eq!(
        data_files(&options.out),
        data_files(&full),
        "the resumed run ends with the files of the uninterrupted run"
    );
    for name in [distill::STATIC_FILE, distill::PREDICTIONS_FILE] {
        let read = |dir: &Path| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert_eq!(read(&options.out), read(&full), "{name} after a resume");
    }
    for figure in ["calls_per_question", "tokens_per_question"] {
        let (was, is) = (
            &outcome.stats.protocol_figures[figure],
            &resumed.stats.protocol_figures[figure],
        );
        assert!(was.is_number(), "{figure}: {was}");
        assert_eq!(was, is, "{figure} after a resume");
    }
}
