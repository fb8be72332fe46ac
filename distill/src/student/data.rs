//! Training records read from TRL-format JSONL files, each error naming `file:line`.
//!
//! - SFT (`sft.jsonl`): `{"messages": [...]}` (conversational language modelling);
//!   `{"prompt": ..., "completion": ...}` with both conversational (message lists) or both plain
//!   strings; `{"text": "..."}` (plain language modelling). Extra columns (`id`) are ignored.
//! - DPO (`dpo.jsonl`): `{"prompt", "chosen", "rejected"}`, conversational (message lists:
//!   prompt `[system, user]`, chosen/rejected `[assistant]`) or plain strings.

use std::path::Path;

use chat::{Message, Role};
use serde_json::Value;

use crate::error::{Error, Result};

/// One SFT record.
#[derive(Debug, Clone, PartialEq)]
pub enum SftRecord {
    /// A conversation; its assistant turns are learnt (after `learn_from`, the index of the
    /// first message of the completion, 0 for a plain `messages` record).
    Conversation {
        /// The turns.
        messages: Vec<Message>,
        /// Assistant turns before this index are context, not learnt.
        learn_from: usize,
    },
    /// Plain text: `prompt` is context, `completion` is learnt (then the end-of-sequence token).
    Text {
        /// Context (may be empty).
        prompt: String,
        /// Learnt text.
        completion: String,
    },
}

/// One DPO record.
#[derive(Debug, Clone, PartialEq)]
pub enum DpoRecord {
    /// Conversational: prompt turns, then the preferred and dispreferred assistant turns.
    Conversation {
        /// The prompt turns.
        prompt: Vec<Message>,
        /// The preferred continuation.
        chosen: Vec<Message>,
        /// The dispreferred continuation.
        rejected: Vec<Message>,
    },
    /// Plain strings.
    Text {
        /// The prompt.
        prompt: String,
        /// The preferred completion.
        chosen: String,
        /// The dispreferred completion.
        rejected: String,
    },
}

/// A record and the line it came from (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct Lined<T> {
    /// 1-based line number in the file.
    pub line: usize,
    /// The record.
    pub record: T,
}

/// The error for `file:line`.
pub(crate) fn data_error(path: &Path, line: usize, message: impl Into<String>) -> Error {
    Error::TrainData {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// The non-blank lines of `path` parsed as JSON objects. An empty file is an error.
pub(crate) fn json_lines(path: &Path) -> Result<Vec<(usize, serde_json::Map<String, Value>)>> {
    let text = std::fs::read_to_string(path).map_err(crate::error::io_error(path))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .map_err(|e| data_error(path, i + 1, format!("not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(data_error(path, i + 1, "a record must be a JSON object"));
        };
        out.push((i + 1, map));
    }
    if out.is_empty() {
        return Err(Error::TrainData {
            path: path.to_path_buf(),
            line: 0,
            message: "the file has no records".to_string(),
        });
    }
    Ok(out)
}

/// A message list at `field`.
fn messages(path: &Path, line: usize, field: &str, value: &Value) -> Result<Vec<Message>> {
    let messages: Vec<Message> = serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let at = e.path().to_string();
        let at = if at == "." { String::new() } else { at };
        data_error(path, line, format!("field `{field}{at}`: {}", e.inner()))
    })?;
    if messages.is_empty() {
        return Err(data_error(
            path,
            line,
            format!("field `{field}` is an empty list"),
        ));
    }
    Ok(messages)
}

/// The string at `field`.
fn string(path: &Path, line: usize, field: &str, value: &Value) -> Result<String> {
    value.as_str().map(str::to_string).ok_or_else(|| {
        data_error(
            path,
            line,
            format!("field `{field}` must be a string or a message list"),
        )
    })
}

fn has_assistant(messages: &[Message]) -> bool {
    messages.iter().any(|m| m.role == Role::Assistant)
}

/// Reads an SFT file. A conversation without an assistant turn to learn is an error.
pub fn read_sft(path: &Path) -> Result<Vec<Lined<SftRecord>>> {
    json_lines(path)?
        .into_iter()
        .map(|(line, map)| {
            let record = if let Some(value) = map.get("messages") {
                let messages = messages(path, line, "messages", value)?;
                if !has_assistant(&messages) {
                    return Err(data_error(
                        path,
                        line,
                        "field `messages` has no assistant turn to learn",
                    ));
                }
                SftRecord::Conversation {
                    messages,
                    learn_from: 0,
                }
            } else if let (Some(prompt), Some(completion)) =
                (map.get("prompt"), map.get("completion"))
            {
                if prompt.is_array() || completion.is_array() {
                    let mut all = messages(path, line, "prompt", prompt)?;
                    let completion = messages(path, line, "completion", completion)?;
                    if !has_assistant(&completion) {
                        return Err(data_error(
                            path,
                            line,
                            "field `completion` has no assistant turn to learn",
                        ));
                    }
                    let learn_from = all.len();
                    all.extend(completion);
                    SftRecord::Conversation {
                        messages: all,
                        learn_from,
                    }
                } else {
                    SftRecord::Text {
                        prompt: string(path, line, "prompt", prompt)?,
                        completion: string(path, line, "completion", completion)?,
                    }
                }
            } else if let Some(text) = map.get("text") {
                SftRecord::Text {
                    prompt: String::new(),
                    completion: string(path, line, "text", text)?,
                }
            } else {
                return Err(data_error(
                    path,
                    line,
                    "no `messages`, `prompt`/`completion` or `text` field: not a TRL SFT record",
                ));
            };
            Ok(Lined { line, record })
        })
        .collect()
}

/// Reads a DPO file. Every record needs `prompt`, `chosen` and `rejected`, all conversational
/// (chosen and rejected with an assistant turn) or all plain strings.
pub fn read_dpo(path: &Path) -> Result<Vec<Lined<DpoRecord>>> {
    json_lines(path)?
        .into_iter()
        .map(|(line, map)| {
            let field = |name: &str| {
                map.get(name)
                    .ok_or_else(|| data_error(path, line, format!("missing field `{name}`")))
            };
            let (prompt, chosen, rejected) =
                (field("prompt")?, field("chosen")?, field("rejected")?);
            let record = if prompt.is_array() || chosen.is_array() || rejected.is_array() {
                let prompt = messages(path, line, "prompt", prompt)?;
                let chosen = messages(path, line, "chosen", chosen)?;
                let rejected = messages(path, line, "rejected", rejected)?;
                for (name, turns) in [("chosen", &chosen), ("rejected", &rejected)] {
                    if !has_assistant(turns) {
                        return Err(data_error(
                            path,
                            line,
                            format!("field `{name}` has no assistant turn"),
                        ));
                    }
                }
                DpoRecord::Conversation {
                    prompt,
                    chosen,
                    rejected,
                }
            } else {
                DpoRecord::Text {
                    prompt: string(path, line, "prompt", prompt)?,
                    chosen: string(path, line, "chosen", chosen)?,
                    rejected: string(path, line, "rejected", rejected)?,
                }
            };
            Ok(Lined { line, record })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("r2l-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        path
    }

    fn error_of<T: std::fmt::Debug>(result: Result<T>) -> String {
        result.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn reads_every_sft_shape() {
        let path = write(
            "sft.jsonl",
            concat!(
                r#"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "id": "x"}"#,
                "\n",
                "\n",
                r#"{"prompt": [{"role": "user", "content": "a"}], "completion": [{"role": "assistant", "content": "b"}]}"#,
                "\n",
                r#"{"prompt": "a", "completion": "b"}"#,
                "\n",
                r#"{"text": "abc"}"#,
                "\n",
            ),
        );
        let records = read_sft(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(records.len(), 4);
        assert_eq!(records[1].line, 3);
        assert!(matches!(
            records[1].record,
            SftRecord::Conversation { learn_from: 1, .. }
        ));
        assert_eq!(
            records[3].record,
            SftRecord::Text {
                prompt: String::new(),
                completion: "abc".into()
            }
        );
    }

    #[test]
    fn bad_records_name_file_line_and_field() {
        let path = write(
            "no_assistant.jsonl",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\n",
        );
        let err = error_of(read_sft(&path));
        assert!(
            err.contains("no_assistant.jsonl:1") && err.contains("no assistant turn"),
            "{err}"
        );
        let path = write("empty.jsonl", "\n\n");
        assert!(error_of(read_sft(&path)).contains("no records"));
        let path = write("junk.jsonl", "{\"text\": \"a\"}\n{oops\n");
        assert!(error_of(read_sft(&path)).contains("junk.jsonl:2: not valid JSON"));
        let path = write(
            "role.jsonl",
            "{\"messages\": [{\"role\": \"robot\", \"content\": \"a\"}]}\n",
        );
        let err = error_of(read_sft(&path));
        assert!(
            err.contains("role.jsonl:1") && err.contains("messages[0].role"),
            "{err}"
        );
        let path = write("dpo.jsonl", "{\"prompt\": \"a\", \"chosen\": \"b\"}\n");
        let err = error_of(read_dpo(&path));
        assert!(
            err.contains("dpo.jsonl:1: missing field `rejected`"),
            "{err}"
        );
    }

    #[test]
    fn reads_dpo_in_both_forms() {
        let path = write(
            "pairs.jsonl",
            concat!(
                r#"{"prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], "chosen": [{"role": "assistant", "content": "c"}], "rejected": [{"role": "assistant", "content": "r"}], "id": "1"}"#,
                "\n",
                r#"{"prompt": "p", "chosen": "c", "rejected": "r"}"#,
                "\n",
            ),
        );
        let records = read_dpo(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(records[0].record, DpoRecord::Conversation { .. }));
        assert!(matches!(records[1].record, DpoRecord::Text { .. }));
    }
}
