//! Scripted teachers (real HTTP servers on 127.0.0.1) that answer R2L's prompts from the gold
//! labels of the real data, and a runner for the library.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use chat::{CacheMode, ChatCache, ChatRequest, Reply, RetryPolicy, ScriptedServer};
use distill::agents::{build_team, parse_agents, LocalClient, LocalModel};
use distill::protocols::r2l::{R2lSettings, Rule};
use distill::{DistillOptions, Outcome};
use harness::data::{load, DatasetName};
use harness::task::{resolve_task, select};

/// The runtime of every test (scripted servers live on it).
pub static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
});

/// The real data directory; tests fail when it is absent.
pub fn data_dir() -> PathBuf {
    // The tests run inside the build tree: $R2L_DATA_DIR or ./shared/data, ../shared/data
    // beside the working directory, else the shared data beside the clone.
    harness::data::find_data_dir(None)
        .or_else(|_| {
            harness::data::find_data_dir(Some(std::path::Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/data"
            ))))
        })
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Samples used by the tests: the first `LIMIT` of the seed-0 shuffle of UIT-ViSFD train.
pub const LIMIT: usize = 12;

/// One selected sample: its id, review text and sorted gold pairs.
pub struct Selected {
    /// Sample id.
    pub id: String,
    /// The review text (what the prompts carry).
    pub input: String,
    /// Gold (aspect, polarity) pairs, sorted.
    pub gold: Vec<(String, String)>,
}

/// The selected samples, in selection order.
pub static SELECTED: LazyLock<Vec<Selected>> = LazyLock::new(|| {
    let dataset = load(DatasetName::UitVisfd, "train", &data_dir())
        .unwrap_or_else(|e| panic!("loading uit-visfd train: {e}"));
    select(&dataset.samples, Some(LIMIT), 0)
        .into_iter()
        .map(|sample| {
            let mut gold: Vec<(String, String)> = sample
                .aspect_labels()
                .iter()
                .map(|l| (l.aspect.clone(), l.polarity.clone()))
                .collect();
            gold.sort();
            Selected {
                id: sample.id.clone(),
                input: sample.input.clone(),
                gold,
            }
        })
        .collect()
});

/// What a scripted teacher answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Behaviour {
    /// The gold labels, always.
    Right,
    /// Gold plus one wrong pair, and keeps it when asked to revise.
    Wrong,
    /// Gold plus the wrong pair, but switches to gold when it sees the others (revision).
    Persuadable,
    /// Right on samples at even positions of the selection, wrong on odd ones.
    RightOnEven,
    /// Gold with confidence 0.9 per item.
    SureRight,
    /// Gold plus the wrong pair with confidence 0.2 on it (0.9 on the others).
    UnsureWrong,
    /// Prose without labels, always.
    Unparseable,
    /// A 200 whose body is not JSON, always.
    MalformedBody,
    /// Like `Right`, but 30 % of first attempts fail with 500, 429 or a timeout.
    Flaky,
}

/// The wrong pair added to gold: an aspect gold does not hold.
pub fn wrong_pair(gold: &[(String, String)]) -> (String, String) {
    let aspect = ["PRICE", "BATTERY", "CAMERA", "SCREEN", "GENERAL"]
        .into_iter()
        .find(|a| !gold.iter().any(|(g, _)| g == a))
        .unwrap_or("STORAGE");
    (aspect.to_string(), "neutral".to_string())
}

/// The position and gold pairs of the sample a request is about.
fn review_of(request: &ChatRequest) -> Option<(usize, &'static [(String, String)])> {
    let text = &request
        .messages
        .iter()
        .find(|m| m.content.contains("Review:\n"))?
        .content;
    let start = text.find("Review:\n")? + "Review:\n".len();
    // The review runs to the end of the message or to the next paragraph; the longest selected
    // input it starts with is the one.
    let rest = &text[start..];
    SELECTED
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            rest.strip_prefix(s.input.as_str())
                .is_some_and(|after| after.is_empty() || after.starts_with("\n\n"))
        })
        .max_by_key(|(_, s)| s.input.len())
        .map(|(p, s)| (p, s.gold.as_slice()))
}

fn json_list(
    pairs: &[(String, String)],
    confidence: impl Fn(&(String, String)) -> Option<f64>,
) -> String {
    let items: Vec<serde_json::Value> = pairs
        .iter()
        .map(|pair| match confidence(pair) {
            Some(c) => serde_json::json!({"aspect": pair.0, "polarity": pair.1, "confidence": c}),
            None => serde_json::json!({"aspect": pair.0, "polarity": pair.1}),
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

/// The phases, told apart by their prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The task's own prompt.
    Detection,
    /// "Do not change the labels".
    Rationale,
    /// "The other annotators:".
    Revision,
    /// "The annotators' positions:".
    Meta,
    /// "The correct labels are:".
    Explain,
}

/// The phase a request belongs to.
pub fn phase_of(request: &ChatRequest) -> Phase {
    let user = request
        .messages
        .iter()
        .find(|m| m.role == chat::Role::User)
        .map_or("", |m| m.content.as_str());
    if user.contains("The other annotators:") {
        Phase::Revision
    } else if user.contains("The annotators' positions:") {
        Phase::Meta
    } else if user.contains("The correct labels are:") {
        Phase::Explain
    } else if user.contains("Do not change the labels") {
        Phase::Rationale
    } else {
        Phase::Detection
    }
}

/// What `behaviour` answers to `request` (attempt = earlier tries of the same messages).
pub fn answer(behaviour: Behaviour, request: &ChatRequest, attempt: u32) -> Reply {
    let Some((position, gold)) = review_of(request) else {
        return Reply::Status(400, None);
    };
    if behaviour == Behaviour::MalformedBody {
        return Reply::Malformed;
    }
    if behaviour == Behaviour::Flaky && attempt == 0 {
        let key = serde_json::to_string(&request.messages).unwrap_or_default();
        let hash = key
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        match hash % 10 {
            0 => return Reply::Status(500, None),
            1 => return Reply::Status(429, Some(0)),
            2 => {
                return Reply::Delayed(
                    Duration::from_millis(1500),
                    Box::new(Reply::Status(500, None)),
                )
            }
            _ => {}
        }
    }
    let phase = phase_of(request);
    if behaviour == Behaviour::Unparseable && phase != Phase::Rationale && phase != Phase::Explain {
        return Reply::Text("I think the phone is quite nice overall.".to_string());
    }
    let wrong = wrong_pair(gold);
    let mut with_wrong = gold.to_vec();
    with_wrong.push(wrong.clone());
    with_wrong.sort();
    let labels: &[(String, String)] = match (behaviour, phase) {
        (Behaviour::Persuadable, Phase::Revision) => gold,
        (Behaviour::Wrong | Behaviour::Persuadable | Behaviour::UnsureWrong, _) => &with_wrong,
        (Behaviour::RightOnEven, _) if position % 2 == 1 => &with_wrong,
        _ => gold,
    };
    let list = match behaviour {
        Behaviour::SureRight => json_list(labels, |_| Some(0.9)),
        Behaviour::UnsureWrong => json_list(labels, |p| Some(if *p == wrong { 0.2 } else { 0.9 })),
        _ => json_list(labels, |_| None),
    };
    Reply::Text(match phase {
        Phase::Detection => list,
        Phase::Rationale => "The review says so in plain words.".to_string(),
        Phase::Explain => "These labels follow from the words of the review.".to_string(),
        Phase::Revision | Phase::Meta => {
            format!("Rationale: Weighing the review, these labels hold.\nLabels: {list}")
        }
    })
}

/// Token counts of one scripted answer, as the scripted server reports them (whitespace words).
fn usage_of(request: &ChatRequest, text: &str) -> (u64, u64) {
    let prompt: u64 = request
        .messages
        .iter()
        .map(|m| m.content.split_whitespace().count() as u64)
        .sum();
    (prompt, text.split_whitespace().count() as u64)
}

/// A scripted teacher: its server and the usage it returned in completed answers.
pub struct Teacher {
    /// The server.
    pub server: ScriptedServer,
    /// Sum of prompt tokens over the answers it sent.
    pub prompt_tokens: Arc<AtomicU64>,
    /// Sum of completion tokens over the answers it sent.
    pub completion_tokens: Arc<AtomicU64>,
}

impl Teacher {
    /// Starts a teacher that answers like `behaviour` after `delay`.
    pub fn start(behaviour: Behaviour, delay: Duration) -> Teacher {
        Teacher::scripted(move |request, attempt| {
            let reply = answer(behaviour, request, attempt);
            if delay.is_zero() {
                reply
            } else {
                Reply::Delayed(delay, Box::new(reply))
            }
        })
    }

    /// Starts a teacher answering with `script` (a function of the request and how many times
    /// the same messages came before), counting the usage of the answers it completes.
    pub fn scripted(
        script: impl Fn(&ChatRequest, u32) -> Reply + Send + Sync + 'static,
    ) -> Teacher {
        let prompt_tokens = Arc::new(AtomicU64::new(0));
        let completion_tokens = Arc::new(AtomicU64::new(0));
        let (p, c) = (prompt_tokens.clone(), completion_tokens.clone());
        let server = RUNTIME
            .block_on(ScriptedServer::start(move |request, attempt| {
                let reply = script(request, attempt);
                let mut answered = &reply;
                while let Reply::Delayed(_, inner) = answered {
                    answered = inner;
                }
                if let Reply::Text(text) = answered {
                    let (prompt, completion) = usage_of(request, text);
                    p.fetch_add(prompt, Ordering::Relaxed);
                    c.fetch_add(completion, Ordering::Relaxed);
                }
                reply
            }))
            .unwrap_or_else(|e| panic!("scripted server: {e}"));
        Teacher {
            server,
            prompt_tokens,
            completion_tokens,
        }
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.server.requests()
    }
}

/// An agents file for `teachers` (id, role, teacher) with `extra` lines in every agent.
pub fn agents_toml(agents: &[(&str, &str, &Teacher)], extra: &str) -> String {
    agents
        .iter()
        .map(|(id, role, teacher)| {
            format!(
                "[[agents]]\nid = \"{id}\"\nrole = \"{role}\"\nendpoint = \"{}\"\nmodel = \"scripted-{id}\"\ntimeout_s = 0.5\n{extra}\n",
                teacher.server.base_url()
            )
        })
        .collect()
}

/// Starts one teacher per (id, role, behaviour), each answering after `delay`, and writes their
/// agents file with `extra` lines in every agent.
pub fn start_team(
    agents: &[(&str, &str, Behaviour)],
    delay: Duration,
    extra: &str,
) -> (Vec<Teacher>, String) {
    let teachers: Vec<Teacher> = agents
        .iter()
        .map(|(_, _, behaviour)| Teacher::start(*behaviour, delay))
        .collect();
    let named: Vec<(&str, &str, &Teacher)> = agents
        .iter()
        .zip(&teachers)
        .map(|((id, role, _), teacher)| (*id, *role, teacher))
        .collect();
    let toml = agents_toml(&named, extra);
    (teachers, toml)
}

/// Requests the teachers received so far, together.
pub fn requests(teachers: &[Teacher]) -> u64 {
    teachers.iter().map(Teacher::requests).sum()
}

/// Runs into `dir/name` with the answer cache `dir/cache` (panics on an error); returns the
/// output directory and the outcome.
pub fn run_in(
    toml: &str,
    dir: &Path,
    name: &str,
    consensus: Option<Rule>,
    rationalize: bool,
) -> (PathBuf, Outcome) {
    let out = dir.join(name);
    let outcome = run(
        toml,
        &dir.join("cache"),
        &options(&out, consensus, rationalize),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (out, outcome)
}

/// Options of a test run into `out` (limit [`LIMIT`], concurrency 4, fast retries).
pub fn options(out: &Path, consensus: Option<Rule>, rationalize: bool) -> DistillOptions {
    DistillOptions {
        protocol: Arc::new(R2lSettings {
            consensus,
            rationalize,
            rounds: 1,
            ..R2lSettings::default()
        }),
        split: Some("train".to_string()),
        limit: Some(LIMIT),
        sample_seed: 0,
        seed: 0,
        data_dir: data_dir(),
        out: out.to_path_buf(),
        concurrency: 4,
        budget: None,
        retry: RetryPolicy {
            max_retries: 4,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
        parse_retries: 2,
        progress: false,
        bootstrap: None,
    }
}

/// Runs distill on UIT-ViSFD with the agents file `toml`, the answer cache at `cache`, and
/// `options`.
pub fn run(toml: &str, cache: &Path, options: &DistillOptions) -> distill::Result<Outcome> {
    run_task("uit-visfd", toml, cache, options)
}

/// Runs distill on `task` with the agents file `toml`, the answer cache at `cache`, and
/// `options`.
pub fn run_task(
    task: &str,
    toml: &str,
    cache: &Path,
    options: &DistillOptions,
) -> distill::Result<Outcome> {
    let file = parse_agents(toml, "agents.toml", Path::new("."))?;
    let mut no_local = |_: &LocalModel| -> distill::Result<LocalClient> {
        Err(distill::Error::Fatal(
            "no local models in these tests".to_string(),
        ))
    };
    let team = build_team(
        &file,
        &ChatCache::new(cache),
        CacheMode::Use,
        options.concurrency,
        &mut no_local,
    )?;
    let task = resolve_task(task).unwrap_or_else(|e| panic!("{e}"));
    RUNTIME.block_on(distill::distill(&task, &team, options))
}

/// The transcripts of a run directory, as JSON.
pub fn transcripts(dir: &Path) -> Vec<serde_json::Value> {
    lines(&dir.join(distill::TRANSCRIPTS_FILE))
}

/// The JSON lines of a file.
pub fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

/// A transcript's final labels as sorted pairs.
pub fn final_pairs(transcript: &serde_json::Value) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = transcript["decision"]["labels"]
        .as_array()
        .map(|labels| {
            labels
                .iter()
                .map(|l| {
                    (
                        l["aspect"].as_str().unwrap_or_default().to_string(),
                        l["polarity"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    pairs
}

/// The gold pairs of a transcript's sample (from the data, not the transcript).
pub fn gold_of(transcript: &serde_json::Value) -> Vec<(String, String)> {
    SELECTED[position_of(transcript)].gold.clone()
}

/// The position of a transcript's sample in the selection.
pub fn position_of(transcript: &serde_json::Value) -> usize {
    let id = transcript["id"].as_str().unwrap_or_default();
    SELECTED
        .iter()
        .position(|s| s.id == id)
        .unwrap_or_else(|| panic!("sample {id} is not one of the selected samples"))
}

/// The data files of a run directory (what an interrupted and an uninterrupted run must share).
pub fn data_files(dir: &Path) -> Vec<(String, String)> {
    [
        distill::TRANSCRIPTS_FILE,
        distill::SFT_FILE,
        distill::DPO_FILE,
        distill::STEPWISE_FILE,
    ]
    .iter()
    .map(|name| {
        (
            name.to_string(),
            std::fs::read_to_string(dir.join(name)).unwrap_or_default(),
        )
    })
    .collect()
}

/// Element `i` of `t` (row-major).
pub fn element(t: &candle_core::Tensor, i: usize) -> f32 {
    t.flatten_all()
        .and_then(|f| f.get(i))
        .and_then(|v| v.to_scalar::<f32>())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Sets element `i` of `t` (row-major) in place.
pub fn set_element(t: &candle_core::Tensor, i: usize, value: f32) {
    let flat = t.flatten_all().unwrap_or_else(|e| panic!("{e}"));
    let src = candle_core::Tensor::from_vec(vec![value], 1, &candle_core::Device::Cpu)
        .unwrap_or_else(|e| panic!("{e}"));
    flat.slice_set(&src, 0, i).unwrap_or_else(|e| panic!("{e}"));
}

/// Checks the analytic gradient `gradient` of `t` against central differences of `loss`
/// (step 1e-2) at its `largest` largest coordinates, a third of the way in and the last one,
/// within `absolute + relative·|analytic|`; `name` labels a failure. Returns the coordinates
/// checked.
pub fn check_finite_differences(
    name: &str,
    t: &candle_core::Tensor,
    gradient: &candle_core::Tensor,
    largest: usize,
    (absolute, relative): (f64, f64),
    mut loss: impl FnMut() -> f64,
) -> usize {
    let g: Vec<f32> = gradient
        .flatten_all()
        .and_then(|g| g.to_vec1())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut order: Vec<usize> = (0..g.len()).collect();
    order.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()));
    let mut picks: Vec<usize> = (0..largest).map(|k| order[k % g.len()]).collect();
    picks.extend([g.len() / 3, g.len() - 1]);
    picks.dedup();
    let eps = 1e-2f32;
    for &i in &picks {
        let original = element(t, i);
        set_element(t, i, original + eps);
        let plus = loss();
        set_element(t, i, original - eps);
        let minus = loss();
        set_element(t, i, original);
        let numeric = (plus - minus) / (2.0 * f64::from(eps));
        let analytic = f64::from(g[i]);
        assert!(
            (numeric - analytic).abs() <= absolute + relative * analytic.abs(),
            "{name}[{i}]: analytic {analytic:.6}, finite difference {numeric:.6}"
        );
    }
    picks.len()
}
