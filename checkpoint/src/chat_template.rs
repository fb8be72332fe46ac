//! The checkpoint's chat template, rendered the way transformers (and mistral.rs) render it:
//! Jinja with `trim_blocks` and `lstrip_blocks`, Python string methods, `raise_exception`.

use std::path::{Path, PathBuf};

use minijinja::{context, Environment, ErrorKind};
use serde::Serialize;
use serde_json::Value;

use crate::error::{io_error, Error, Result};
use crate::files::{CHAT_TEMPLATE_FILE, TOKENIZER_CONFIG_FILE};

/// One turn of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Turn<'a> {
    /// `system`, `user` or `assistant`.
    pub role: &'a str,
    /// The text of the turn.
    pub content: &'a str,
}

/// A chat template and the special tokens it may refer to.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    source: String,
    path: PathBuf,
    bos_token: Option<String>,
    eos_token: Option<String>,
    unk_token: Option<String>,
}

impl ChatTemplate {
    /// The template of the checkpoint in `dir`: `chat_template.jinja` if present, else the
    /// `chat_template` of `tokenizer_config.json` (a string, or a list of named templates of which
    /// `default` is taken). None when the checkpoint has no template.
    pub fn load(dir: &Path) -> Result<Option<ChatTemplate>> {
        let config_path = dir.join(TOKENIZER_CONFIG_FILE);
        let config = if config_path.is_file() {
            let text = std::fs::read_to_string(&config_path).map_err(io_error(&config_path))?;
            serde_json::from_str::<Value>(&text).map_err(|e| Error::Json {
                path: config_path.clone(),
                message: format!("not valid JSON: {e}"),
            })?
        } else {
            Value::Null
        };
        let token = |key: &str| match config.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(o)) => o.get("content").and_then(Value::as_str).map(String::from),
            _ => None,
        };
        let jinja = dir.join(CHAT_TEMPLATE_FILE);
        let (source, path) = if jinja.is_file() {
            let text = std::fs::read_to_string(&jinja).map_err(io_error(&jinja))?;
            (text, jinja)
        } else {
            match config.get("chat_template") {
                Some(Value::String(s)) => (s.clone(), config_path.clone()),
                Some(Value::Array(named)) => {
                    let default = named.iter().find_map(|t| {
                        (t.get("name").and_then(Value::as_str) == Some("default"))
                            .then(|| t.get("template").and_then(Value::as_str))
                            .flatten()
                    });
                    match default {
                        Some(s) => (s.to_string(), config_path.clone()),
                        None => {
                            return Err(Error::Json {
                                path: config_path,
                                message:
                                    "field `chat_template`: a list without a `default` template"
                                        .to_string(),
                            })
                        }
                    }
                }
                _ => return Ok(None),
            }
        };
        let template = ChatTemplate {
            source,
            path,
            bos_token: token("bos_token"),
            eos_token: token("eos_token"),
            unk_token: token("unk_token"),
        };
        // Compile once now so a broken template fails at load, naming its file.
        template.environment()?;
        Ok(Some(template))
    }

    /// A template from its source (for tests and callers holding one in memory).
    pub fn from_source(source: &str, eos_token: Option<&str>) -> Result<ChatTemplate> {
        let template = ChatTemplate {
            source: source.to_string(),
            path: PathBuf::from("<chat template>"),
            bos_token: None,
            eos_token: eos_token.map(String::from),
            unk_token: None,
        };
        template.environment()?;
        Ok(template)
    }

    /// The template source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The beginning-of-sequence token named in `tokenizer_config.json`, if any (what
    /// transformers calls `tokenizer.bos_token`).
    pub fn bos_token(&self) -> Option<&str> {
        self.bos_token.as_deref()
    }

    /// The end-of-sequence token named in `tokenizer_config.json`, if any.
    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    /// Renders `turns`; with `add_generation_prompt` the text ends where the assistant's answer
    /// begins.
    pub fn render(&self, turns: &[Turn<'_>], add_generation_prompt: bool) -> Result<String> {
        let env = self.environment()?;
        let template = env
            .get_template("chat")
            .map_err(|e| self.error(e.to_string()))?;
        template
            .render(context! {
                messages => turns,
                add_generation_prompt => add_generation_prompt,
                bos_token => self.bos_token,
                eos_token => self.eos_token,
                unk_token => self.unk_token,
            })
            .map_err(|e| self.error(format!("rendering: {e:#}")))
    }

    fn environment(&self) -> Result<Environment<'_>> {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_function(
            "raise_exception",
            |message: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        env.add_template("chat", &self.source)
            .map_err(|e| self.error(format!("does not compile: {e}")))?;
        Ok(env)
    }

    fn error(&self, message: String) -> Error {
        Error::Template {
            path: self.path.clone(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2-135M-Instruct's template.
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_smollm2_conversations() {
        let template = ChatTemplate::from_source(SMOLLM2, Some("<|im_end|>"))
            .unwrap_or_else(|e| panic!("{e}"));
        let turns = [Turn {
            role: "user",
            content: "Hi",
        }];
        let text = template
            .render(&turns, true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            text,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn loads_from_tokenizer_config_or_jinja_file() {
        let dir = std::env::temp_dir().join(format!("r2l-ckpt-template-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert!(ChatTemplate::load(&dir).ok().flatten().is_none());
        let config = serde_json::json!({
            "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content | upper }}{% endfor %}",
            "bos_token": {"content": "<s>"}, "eos_token": "</s>",
        });
        std::fs::write(dir.join(TOKENIZER_CONFIG_FILE), config.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        let template = ChatTemplate::load(&dir)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no template"));
        let turns = [Turn {
            role: "user",
            content: "ab",
        }];
        assert_eq!(
            template.render(&turns, false).ok().as_deref(),
            Some("<s>AB")
        );
        assert_eq!(template.eos_token(), Some("</s>"));

        std::fs::write(
            dir.join(CHAT_TEMPLATE_FILE),
            "{{ raise_exception('no ' + messages[0].role) }}",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let template = ChatTemplate::load(&dir)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no template"));
        let err = template.render(&turns, false).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("chat_template.jinja") && e.contains("no user")),
            "{err:?}"
        );
        std::fs::write(dir.join(CHAT_TEMPLATE_FILE), "{% for %}").unwrap_or_else(|e| panic!("{e}"));
        let err = ChatTemplate::load(&dir).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("does not compile")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
