//! The output directory: `transcripts.jsonl`, `sft.jsonl`, `dpo.jsonl`, `stepwise.jsonl`,
//! `static.jsonl` streamed one sample at a time; `stats.json` and `predictions.jsonl` rebuilt
//! from the transcripts at the end of every run; `ledger.jsonl` and the run's `distill.json`.
//!
//! A sample's records are appended first and its transcript last, so the transcript is the
//! commit mark: reopening the directory cuts off a torn last line (a killed process), drops
//! records whose sample has no transcript, and skips the samples that have one. Every file then
//! holds each sample's lines once. When every selected sample is done the files are rewritten in
//! selection order, so an interrupted and resumed run ends with the same bytes as one that ran
//! through.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::call::Halt;
use crate::error::{io_error, Error, Result};
use crate::records::RecordLines;
use crate::stats::RecordTotals;

/// Per-sample transcripts (one line per sample: the commit mark).
pub const TRANSCRIPTS_FILE: &str = "transcripts.jsonl";
/// SFT records, TRL's conversational language-modelling form: `{"messages": [...]}`.
pub const SFT_FILE: &str = "sft.jsonl";
/// Preference records, TRL's preference form with an explicit prompt.
pub const DPO_FILE: &str = "dpo.jsonl";
/// Stepwise-supervision records: `{"prompt", "completions", "labels"}`.
pub const STEPWISE_FILE: &str = "stepwise.jsonl";
/// Static-distillation SFT records (TRL `messages`): Debate & Reflect's baseline, SFT on the
/// teachers' right round-0 answers without the debate.
pub const STATIC_FILE: &str = "static.jsonl";
/// The team's final answer per finished question, `{"id", "output"}`: what
/// `r2l score --predictions` reads (reasoning protocols only).
pub const PREDICTIONS_FILE: &str = "predictions.jsonl";
/// Run summary.
pub const STATS_FILE: &str = "stats.json";
/// Every agent call.
pub const LEDGER_FILE: &str = "ledger.jsonl";
/// What the directory's run is (protocol, task, agents...): a resume must match it.
pub const MANIFEST_FILE: &str = "distill.json";

/// The record files, in the order a sample's lines are written (transcript last).
const RECORD_FILES: [&str; 4] = [SFT_FILE, DPO_FILE, STEPWISE_FILE, STATIC_FILE];

/// One finished sample: its transcript and its training records (each with the sample's `id`).
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// The sample id.
    pub id: String,
    /// The protocol's transcript.
    pub transcript: Value,
    /// `sft.jsonl` lines.
    pub sft: Vec<Value>,
    /// `dpo.jsonl` lines.
    pub dpo: Vec<Value>,
    /// `stepwise.jsonl` lines.
    pub stepwise: Vec<Value>,
    /// `static.jsonl` lines.
    pub static_sft: Vec<Value>,
}

impl Finished {
    /// A finished sample from its transcript and record lines.
    pub fn new(
        id: &str,
        transcript: &impl serde::Serialize,
        records: RecordLines,
    ) -> std::result::Result<Finished, Halt> {
        Ok(Finished {
            id: id.to_string(),
            transcript: serde_json::to_value(transcript)
                .map_err(|e| Halt::Fatal(format!("transcript of {id}: {e}")))?,
            sft: records.sft,
            dpo: records.dpo,
            stepwise: records.stepwise,
            static_sft: records.static_sft,
        })
    }
}

/// The complete JSON lines of `path` with their 1-based line numbers (none when the file does
/// not exist). A last line without its newline is what a killed writer leaves: it is cut off
/// the file. Any other line that is not JSON is an error naming file and line.
pub fn read_lines(path: &Path) -> Result<Vec<(usize, Value)>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io_error(path)(error)),
    };
    let complete = bytes
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |at| at + 1);
    if complete < bytes.len() {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_error(path))?;
        file.set_len(complete as u64).map_err(io_error(path))?;
    }
    let mut lines = Vec::new();
    for (index, line) in bytes[..complete].split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value = serde_json::from_slice(line).map_err(|e| Error::Malformed {
            path: path.to_path_buf(),
            line: index + 1,
            message: format!("not a JSON line ({e}); remove the directory to start over"),
        })?;
        lines.push((index + 1, value));
    }
    Ok(lines)
}

fn id_of(path: &Path, line: usize, value: &Value) -> Result<String> {
    value
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::Malformed {
            path: path.to_path_buf(),
            line,
            message: "the line has no string `id`".to_string(),
        })
}

fn write_lines(path: &Path, lines: &[Value]) -> Result<()> {
    let mut text = String::new();
    for line in lines {
        text.push_str(&serde_json::to_string(line).map_err(|e| Error::Fatal(e.to_string()))?);
        text.push('\n');
    }
    chat::write_atomically(path, text.as_bytes()).map_err(io_error(path))
}

/// The open output directory.
pub struct OutputFiles {
    dir: PathBuf,
    done: HashSet<String>,
    writers: Vec<(PathBuf, std::io::BufWriter<std::fs::File>)>,
}

impl OutputFiles {
    /// Opens (or creates) `dir`, recovering from a run that was killed (see the module doc).
    pub fn open(dir: &Path) -> Result<OutputFiles> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let transcripts_path = dir.join(TRANSCRIPTS_FILE);
        let mut done = HashSet::new();
        let mut kept = Vec::new();
        let transcripts = read_lines(&transcripts_path)?;
        let total = transcripts.len();
        for (line, value) in transcripts {
            if done.insert(id_of(&transcripts_path, line, &value)?) {
                kept.push(value);
            }
        }
        if kept.len() != total {
            write_lines(&transcripts_path, &kept)?;
        }
        for name in RECORD_FILES {
            let path = dir.join(name);
            let lines = read_lines(&path)?;
            let total = lines.len();
            let mut kept = Vec::with_capacity(total);
            for (line, value) in lines {
                if done.contains(&id_of(&path, line, &value)?) {
                    kept.push(value);
                }
            }
            if kept.len() != total {
                write_lines(&path, &kept)?;
            }
        }
        let mut writers = Vec::new();
        for name in RECORD_FILES
            .iter()
            .chain(std::iter::once(&TRANSCRIPTS_FILE))
        {
            let path = dir.join(name);
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io_error(&path))?;
            writers.push((path, std::io::BufWriter::new(file)));
        }
        Ok(OutputFiles {
            dir: dir.to_path_buf(),
            done,
            writers,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `id` is finished (its transcript is on disk).
    pub fn is_done(&self, id: &str) -> bool {
        self.done.contains(id)
    }

    /// How many samples are finished.
    pub fn done_count(&self) -> usize {
        self.done.len()
    }

    /// Appends a finished sample: records first, the transcript last, each file flushed.
    pub fn write(&mut self, finished: &Finished) -> Result<()> {
        if self.done.contains(&finished.id) {
            return Ok(());
        }
        let transcript = [finished.transcript.clone()];
        let groups: [&[Value]; 5] = [
            &finished.sft,
            &finished.dpo,
            &finished.stepwise,
            &finished.static_sft,
            &transcript,
        ];
        for ((path, writer), lines) in self.writers.iter_mut().zip(groups) {
            for line in lines {
                let mut text =
                    serde_json::to_string(line).map_err(|e| Error::Fatal(e.to_string()))?;
                text.push('\n');
                writer.write_all(text.as_bytes()).map_err(io_error(path))?;
            }
            writer.flush().map_err(io_error(path))?;
        }
        self.done.insert(finished.id.clone());
        Ok(())
    }

    /// Every transcript on disk, in file order.
    pub fn transcripts(&self) -> Result<Vec<Value>> {
        Ok(read_lines(&self.dir.join(TRANSCRIPTS_FILE))?
            .into_iter()
            .map(|(_, value)| value)
            .collect())
    }

    /// How many lines each record file holds.
    pub fn record_counts(&self) -> Result<RecordTotals> {
        let count = |name: &str| read_lines(&self.dir.join(name)).map(|lines| lines.len());
        Ok(RecordTotals {
            sft: count(SFT_FILE)?,
            dpo: count(DPO_FILE)?,
            stepwise: count(STEPWISE_FILE)?,
            static_sft: count(STATIC_FILE)?,
        })
    }

    /// Writes `predictions.jsonl` (atomically) with `lines` ordered as `order` orders sample
    /// ids (ids not in `order` after, as given): the same bytes whether the run was resumed
    /// or not.
    pub fn write_predictions(&self, mut lines: Vec<Value>, order: &[String]) -> Result<()> {
        let rank: HashMap<&str, usize> = order
            .iter()
            .enumerate()
            .map(|(index, id)| (id.as_str(), index))
            .collect();
        lines.sort_by_key(|line| {
            line.get("id")
                .and_then(Value::as_str)
                .and_then(|id| rank.get(id).copied())
                .unwrap_or(usize::MAX)
        });
        write_lines(&self.dir.join(PREDICTIONS_FILE), &lines)
    }

    /// Rewrites every file with its lines in `order` of sample id (ids not in `order` after,
    /// as they were; a sample's own lines keep their order).
    pub fn finalize(mut self, order: &[String]) -> Result<()> {
        for (path, writer) in &mut self.writers {
            writer.flush().map_err(io_error(path))?;
        }
        let rank: HashMap<&str, usize> = order
            .iter()
            .enumerate()
            .map(|(index, id)| (id.as_str(), index))
            .collect();
        for (path, _) in &self.writers {
            let mut lines = read_lines(path)?
                .into_iter()
                .map(|(line, value)| id_of(path, line, &value).map(|id| (id, value)))
                .collect::<Result<Vec<_>>>()?;
            lines.sort_by_key(|(id, _)| rank.get(id.as_str()).copied().unwrap_or(usize::MAX));
            let values: Vec<Value> = lines.into_iter().map(|(_, value)| value).collect();
            write_lines(path, &values)?;
        }
        Ok(())
    }
}

/// Checks `manifest` against the directory's `distill.json` (written when absent): every key
/// of `compared` must hold the same value.
pub fn check_manifest(dir: &Path, manifest: &Value, compared: &[&str]) -> Result<()> {
    let path = dir.join(MANIFEST_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let found: Value = serde_json::from_slice(&bytes).map_err(|e| Error::Malformed {
                path: path.clone(),
                line: 1,
                message: e.to_string(),
            })?;
            for key in compared {
                let (was, is) = (&found[*key], &manifest[*key]);
                if was != is {
                    return Err(Error::OtherRun {
                        dir: dir.to_path_buf(),
                        field: key.to_string(),
                        found: was.to_string(),
                        wanted: is.to_string(),
                    });
                }
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
            let mut text =
                serde_json::to_vec_pretty(manifest).map_err(|e| Error::Fatal(e.to_string()))?;
            text.push(b'\n');
            chat::write_atomically(&path, &text).map_err(io_error(&path))
        }
        Err(error) => Err(io_error(&path)(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn finished(id: &str, dpo: usize) -> Finished {
        Finished {
            id: id.to_string(),
            transcript: json!({"id": id}),
            sft: vec![json!({"messages": [], "id": id})],
            dpo: (0..dpo).map(|k| json!({"id": id, "k": k})).collect(),
            stepwise: Vec::new(),
            static_sft: Vec::new(),
        }
    }

    #[test]
    fn a_torn_line_and_uncommitted_records_are_dropped_on_reopen() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        {
            let mut files = OutputFiles::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
            files
                .write(&finished("a", 2))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        // A killed writer: b's records landed, its transcript did not; a torn transcript line.
        let append = |name: &str, text: &str| {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(dir.path().join(name))
                .unwrap_or_else(|e| panic!("{e}"));
            file.write_all(text.as_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
        };
        append(SFT_FILE, "{\"messages\": [], \"id\": \"b\"}\n");
        append(DPO_FILE, "{\"id\": \"b\", \"k\": 0}\n{\"id\": \"b\"");
        append(TRANSCRIPTS_FILE, "{\"id\": \"b\"");
        let mut files = OutputFiles::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(files.is_done("a") && !files.is_done("b"));
        let counts = |files: &OutputFiles| {
            let totals = files.record_counts().unwrap_or_default();
            (totals.sft, totals.dpo, totals.stepwise)
        };
        assert_eq!(counts(&files), (1, 2, 0));
        files
            .write(&finished("b", 1))
            .unwrap_or_else(|e| panic!("{e}"));
        files
            .write(&finished("b", 1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(counts(&files), (2, 3, 0));
        files
            .finalize(&["b".to_string(), "a".to_string()])
            .unwrap_or_else(|e| panic!("{e}"));
        let transcripts =
            std::fs::read_to_string(dir.path().join(TRANSCRIPTS_FILE)).unwrap_or_default();
        assert_eq!(transcripts, "{\"id\":\"b\"}\n{\"id\":\"a\"}\n");
    }

    #[test]
    fn a_malformed_line_in_the_middle_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.path().join(TRANSCRIPTS_FILE),
            "{\"id\": \"a\"}\nnot json\n{\"id\": \"b\"}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let message = OutputFiles::open(dir.path())
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("transcripts.jsonl:2: not a JSON line"),
            "{message}"
        );
    }

    #[test]
    fn a_directory_of_another_run_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let manifest = json!({"task": "uit-visfd", "protocol": "r2l"});
        check_manifest(dir.path(), &manifest, &["task"]).unwrap_or_else(|e| panic!("{e}"));
        check_manifest(dir.path(), &manifest, &["task"]).unwrap_or_else(|e| panic!("{e}"));
        let other = json!({"task": "vlsp2018-hotel", "protocol": "r2l"});
        let message = check_manifest(dir.path(), &other, &["task"])
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(message.contains("task = \"uit-visfd\""), "{message}");
    }
}
