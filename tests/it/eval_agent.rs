//! `r2l eval --agent`: an agent of an agents file evaluated as a model, against scripted
//! OpenAI-compatible servers on 127.0.0.1 and with the real default model.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chat::{ChatRequest, Reply, Role, ScriptedServer};

use crate::support::{data_dir, json_of, run, RUNTIME};

/// Two teachers on one scripted server: same model, different personas and sampling.
const AGENTS: &str = r#"
[[agents]]
id = "strict"
role = "teacher"
endpoint = "URL"
model = "big-teacher-7b"
expertise = "You are strict about polarity."
temperature = 0.3
max_tokens = 99

[[agents]]
id = "judge"
role = "meta"
endpoint = "URL"
model = "big-teacher-7b"
system_prompt = "You weigh the evidence."
top_p = 0.5
"#;

/// A server that answers every request with an empty label list and keeps the requests.
fn recording_server() -> (ScriptedServer, Arc<Mutex<Vec<ChatRequest>>>) {
    let seen: Arc<Mutex<Vec<ChatRequest>>> = Arc::default();
    let kept = seen.clone();
    let server = RUNTIME
        .block_on(ScriptedServer::start(move |request: &ChatRequest, _| {
            kept.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(request.clone());
            Reply::Text("[]".to_string())
        }))
        .unwrap_or_else(|e| panic!("{e}"));
    (server, seen)
}

fn eval_agent(id: &str, agents: &Path, out: &Path, home: &Path) -> serde_json::Value {
    let (agents, out, cache, data) = (
        agents.display().to_string(),
        out.display().to_string(),
        home.join("cache").display().to_string(),
        data_dir().display().to_string(),
    );
    let output = run(
        &[
            "eval",
            "--task",
            "uit-visfd",
            "--limit",
            "3",
            "--agent",
            id,
            "--agents",
            &agents,
            "--out",
            &out,
            "--cache-dir",
            &cache,
            "--data-dir",
            &data,
            "--run-id",
            "r1",
            "--bootstrap",
            "0",
            "--no-progress",
        ],
        home,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    json_of(&output)
}

fn manifest(run_dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(run_dir.join("run.json")).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", run_dir.display()))
}

#[test]
fn an_agent_evaluated_as_a_model_sends_its_persona_first_its_model_and_its_sampling() {
    let (server, seen) = recording_server();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let agents = home.path().join("agents.toml");
    let text = AGENTS.replace("URL", &server.base_url());
    std::fs::write(&agents, &text).unwrap_or_else(|e| panic!("{e}"));
    let out = home.path().join("runs");

    let summary = eval_agent("strict", &agents, &out, home.path());
    assert_eq!(summary["n"], 3, "{summary}");
    let task = harness::task::resolve_task("uit-visfd").unwrap_or_else(|e| panic!("{e}"));
    let task_system = task.prompt.system.clone().unwrap_or_default();
    let persona = "You are strict, one of several expert annotators working on the same text. You are strict about polarity.";
    let requests = std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()));
    assert_eq!(requests.len(), 3);
    for request in &requests {
        assert_eq!(request.model, "big-teacher-7b");
        assert_eq!(request.messages[0].role, Role::System);
        assert_eq!(
            request.messages[0].content,
            format!("{persona}\n\n{task_system}"),
            "the persona comes first, then the task's own system message"
        );
        assert_eq!(
            (request.temperature, request.max_tokens),
            (Some(0.3), Some(99))
        );
    }
    let strict = manifest(&out.join("uit-visfd").join("strict").join("r1"));
    assert_eq!(strict["model"]["id"], "strict");
    assert_eq!(strict["model"]["endpoints"][0], server.base_url());
    assert_eq!(strict["agent"]["id"], "strict");
    assert_eq!(strict["agent"]["role"], "teacher");
    assert_eq!(strict["agent"]["model"], "big-teacher-7b");
    assert_eq!(strict["agent"]["persona"]["system_prompt"], persona);
    assert_eq!(
        strict["agent"]["agents_sha256"],
        harness::data::sha256_hex(text.as_bytes())
    );
    assert_eq!(strict["generation"]["max_tokens"], 99);

    // The meta-agent on the same model is another run, with its own system prompt and top_p.
    eval_agent("judge", &agents, &out, home.path());
    let requests = std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()));
    assert!(requests.iter().all(|r| r.messages[0]
        .content
        .starts_with("You weigh the evidence.\n\n")
        && r.top_p == Some(0.5)));
    let judge = manifest(&out.join("uit-visfd").join("judge").join("r1"));
    assert_eq!(judge["agent"]["role"], "meta");
    assert_ne!(
        judge["agent"]["persona_sha256"],
        strict["agent"]["persona_sha256"]
    );
    assert_eq!(
        judge["agent"]["agents_sha256"],
        strict["agent"]["agents_sha256"]
    );
}

#[test]
fn an_unknown_agent_fails_before_any_model_loads_and_lists_the_agents() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let output = run(
        &[
            "eval",
            "--task",
            "uit-visfd",
            "--limit",
            "1",
            "--agent",
            "strickt",
        ],
        home.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--agent `strickt` is not an agent of built-in:agents.toml; its agents: strict (teacher), thorough (teacher), intuitive (teacher), meta (meta), student (student)"),
        "{stderr}"
    );
    assert!(!stderr.contains("loading"), "{stderr}");

    // --agent names the model: --endpoint, --local and --model are refused beside it.
    for extra in [
        ["--endpoint", "http://127.0.0.1:9/v1"],
        ["--local", "default"],
        ["--model", "m"],
    ] {
        let mut args = vec!["eval", "--task", "uit-visfd", "--agent", "strict"];
        args.extend(extra);
        let output = run(&args, home.path());
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("cannot be used with"), "{args:?}: {stderr}");
    }
}

fn r2l_home() -> PathBuf {
    std::env::var_os("R2L_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/r2l")
        })
}

#[test]
fn a_built_in_agent_evaluated_with_the_real_default_model_writes_its_run_log() {
    let home = r2l_home();
    assert!(
        home.join("models/SmolLM2-135M-Instruct/config.json")
            .is_file(),
        "the default model is not set up: run scripts/setup.sh"
    );
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = work.path().join("runs");
    let (out_s, data) = (out.display().to_string(), data_dir().display().to_string());
    let output = run(
        &[
            "eval",
            "--task",
            "uit-visfd",
            "--limit",
            "2",
            "--agent",
            "thorough",
            "--out",
            &out_s,
            "--data-dir",
            &data,
            "--run-id",
            "real",
            "--no-cache",
            "--bootstrap",
            "0",
            "--no-progress",
        ],
        &home,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dir = out.join("uit-visfd").join("thorough").join("real");
    let log = harness::runner::RunLog::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(log.samples.len(), 2);
    assert_eq!(log.manifest.model.id, "thorough");
    let agent = log
        .manifest
        .agent
        .unwrap_or_else(|| panic!("no agent in run.json"));
    assert_eq!(agent.agents_file, "built-in:agents.toml");
    assert_eq!(agent.persona.temperature, Some(0.5));
    assert!(log.manifest.model.sha256.is_some());
}
