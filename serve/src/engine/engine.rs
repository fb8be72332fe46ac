//! The inference engine: one mistral.rs model, loaded offline, generating token streams that
//! stop (and free their slot) as soon as the consumer drops them.

use std::path::Path;
use std::sync::{Arc, Mutex};

use mistralrs::core::{MultimodalLoaderType, RequestMessage};
use mistralrs::{
    Constraint, GgufModelBuilder, Model, ModelDType, MultimodalModelBuilder, NormalRequest,
    Request, RequestLike, Response, SamplingParams, StopTokens, TextMessageRole, TextMessages,
    TextModelBuilder, TokenSource,
};
use tokio::sync::mpsc::{channel, Receiver};

use super::chooser::{Choice, Chooser};
use super::controls::Controls;
use super::grammar_end::grammar_end_token;
use super::logprobs::{log_softmax, top_k, Chosen, Recorder};
use super::prefix_cache;
use super::spec::{ModelFormat, ModelSpec};
use super::staged::StagedCheckpoint;
use super::stop::StopTrimmer;
use super::token_text::TokenText;
use crate::error::{Error, Result};

/// Tokens generated when a request does not say (`max_tokens` absent).
pub const DEFAULT_MAX_TOKENS: usize = 256;

/// What `/v1/models` says about a loaded model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelInfo {
    /// The id clients send in `model`.
    pub id: String,
    /// Where it was loaded from.
    pub path: String,
    /// `GGUF Q4_1`, `ISQ Q8_0`, `none (F32)`.
    pub quantization: String,
    /// Most tokens (prompt + completion) it can attend to.
    pub context_length: usize,
    /// The weights' identity (`checkpoint::weights_sha256`: the GGUF's sha256, or the
    /// checkpoint's `model.safetensors`, or a hash over its shards).
    pub sha256: String,
}

/// What to generate from.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// A conversation, rendered with the model's chat template.
    Chat(Vec<chat::Message>),
    /// Raw text, no template (`/v1/completions`).
    Text(String),
    /// Token ids, no template (`/v1/completions` with ids).
    Tokens(Vec<u32>),
}

/// One generation request, already validated by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationRequest {
    /// The prompt.
    pub prompt: Prompt,
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Sampling temperature; None or 0 = greedy.
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    pub top_p: Option<f64>,
    /// Sampling seed: a sampled request with a seed gives the same text every time (see
    /// [`super::SeededSampler`]); greedy requests are deterministic anyway.
    pub seed: Option<u64>,
    /// Logit bias, penalties, top-k and min-p, checked. Any control set: r2l's [`Chooser`]
    /// chooses every token (an unseeded sampled request then draws with a fresh seed).
    pub controls: Controls,
    /// Stop sequences: the text ends before the first one.
    pub stop: Vec<String>,
    /// Constrain the output to JSON matching this schema (llguidance).
    pub json_schema: Option<serde_json::Value>,
    /// Record each generated token's log-probability and this many alternatives (None: none).
    /// The tokens are then chosen by a [`Recorder`]; not with `json_schema`.
    pub logprobs: Option<usize>,
}

/// An event of a running generation.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// New text.
    Text(String),
    /// The end: why it stopped (`stop`, `length`, ...) and the token counts.
    Finished {
        /// OpenAI finish reason.
        reason: String,
        /// Token counts.
        usage: chat::Usage,
    },
}

/// A running generation. Dropping it cancels the sequence in the engine.
pub struct Generation {
    receiver: Receiver<Response>,
    stop: StopTrimmer,
    prompt_tokens: usize,
    completion_tokens: usize,
    max_tokens: usize,
    /// The end, held back while the last piece of text is delivered.
    pending: Option<Event>,
    finished: bool,
    /// The tokens chosen so far, when log-probabilities were asked for.
    chosen: Option<Arc<Mutex<Vec<Chosen>>>>,
}

impl Generation {
    /// The next event; None after `Finished`. An engine error ends the stream with `Err`.
    pub async fn next(&mut self) -> Option<std::result::Result<Event, String>> {
        if let Some(event) = self.pending.take() {
            return Some(Ok(event));
        }
        if self.finished {
            return None;
        }
        loop {
            let Some(response) = self.receiver.recv().await else {
                self.finished = true;
                let held = self.stop.finish();
                if self.completion_tokens == 0 {
                    return Some(Err(
                        "the engine closed the stream before finishing".to_string()
                    ));
                }
                // mistral.rs 0.8.1 drops the final chunk when the last token ends inside a
                // multi-byte character (e.g. half an emoji): the sequence is done, the stream
                // closes, no finish reason arrives. A token that splits a character is an
                // ordinary text token, not EOS or a stop string, so the sequence ran out of
                // max_tokens.
                let usage = chat::Usage {
                    prompt_tokens: self.prompt_tokens as u64,
                    completion_tokens: self.max_tokens as u64,
                    total_tokens: (self.prompt_tokens + self.max_tokens) as u64,
                };
                let end = Event::Finished {
                    reason: "length".to_string(),
                    usage,
                };
                return Some(Ok(self.deliver(held, end)));
            };
            let (text, finish, usage) = match response {
                Response::Chunk(chunk) => {
                    let Some(choice) = chunk.choices.into_iter().next() else {
                        continue;
                    };
                    let usage = chunk.usage.map(|u| chat::Usage {
                        prompt_tokens: u.prompt_tokens as u64,
                        completion_tokens: u.completion_tokens as u64,
                        total_tokens: u.total_tokens as u64,
                    });
                    (
                        choice.delta.content.unwrap_or_default(),
                        choice.finish_reason,
                        usage,
                    )
                }
                Response::CompletionChunk(chunk) => {
                    let Some(choice) = chunk.choices.into_iter().next() else {
                        continue;
                    };
                    (choice.text, choice.finish_reason, None)
                }
                Response::Done(done) => {
                    let reason = done
                        .choices
                        .first()
                        .map_or_else(|| "stop".to_string(), |c| c.finish_reason.clone());
                    let usage = chat::Usage {
                        prompt_tokens: done.usage.prompt_tokens as u64,
                        completion_tokens: done.usage.completion_tokens as u64,
                        total_tokens: done.usage.total_tokens as u64,
                    };
                    (String::new(), Some(reason), Some(usage))
                }
                Response::CompletionDone(done) => {
                    let reason = done
                        .choices
                        .first()
                        .map_or_else(|| "stop".to_string(), |c| c.finish_reason.clone());
                    (String::new(), Some(reason), None)
                }
                Response::ModelError(message, _) | Response::CompletionModelError(message, _) => {
                    self.finished = true;
                    return Some(Err(message));
                }
                Response::ValidationError(error) | Response::InternalError(error) => {
                    self.finished = true;
                    return Some(Err(error.to_string()));
                }
                _ => {
                    self.finished = true;
                    return Some(Err("unexpected response kind from the engine".to_string()));
                }
            };
            if !text.is_empty() {
                self.completion_tokens += 1;
            }
            let trimmed = self.stop.push(&text);
            if trimmed.stopped {
                // A stop string: the answer ends before it, whatever the engine sends next
                // (closing the channel makes the engine drop the sequence).
                self.finished = true;
                self.receiver.close();
                let end = Event::Finished {
                    reason: "stop".to_string(),
                    usage: usage.unwrap_or_else(|| self.counted_usage()),
                };
                return Some(Ok(self.deliver(trimmed.text, end)));
            }
            if let Some(reason) = finish {
                self.finished = true;
                let usage = usage.unwrap_or_else(|| self.counted_usage());
                let end = Event::Finished {
                    reason: openai_reason(&reason),
                    usage,
                };
                let text = trimmed.text + &self.stop.finish();
                return Some(Ok(self.deliver(text, end)));
            }
            if !trimmed.text.is_empty() {
                return Some(Ok(Event::Text(trimmed.text)));
            }
        }
    }

    /// The tokens chosen so far with their log-probabilities (empty unless the request asked
    /// for them). The engine may already have chosen a token whose text has not arrived yet.
    pub fn chosen(&self) -> Vec<Chosen> {
        self.chosen
            .as_ref()
            .and_then(|chosen| chosen.lock().ok().map(|c| c.clone()))
            .unwrap_or_default()
    }

    /// The last text (if any) now, the end right after it.
    fn deliver(&mut self, text: String, end: Event) -> Event {
        if text.is_empty() {
            return end;
        }
        self.pending = Some(end);
        Event::Text(text)
    }

    fn counted_usage(&self) -> chat::Usage {
        chat::Usage {
            prompt_tokens: self.prompt_tokens as u64,
            completion_tokens: self.completion_tokens as u64,
            total_tokens: (self.prompt_tokens + self.completion_tokens) as u64,
        }
    }
}

/// mistral.rs stop reasons → OpenAI finish reasons.
fn openai_reason(reason: &str) -> String {
    match reason {
        "length" | "model_length" => "length".to_string(),
        "canceled" => "cancelled".to_string(),
        _ => "stop".to_string(),
    }
}

/// A loaded model.
pub struct Engine {
    model: Model,
    info: ModelInfo,
    /// The normalised copy of the checkpoint mistral.rs loaded, removed with the engine.
    _staged: Option<StagedCheckpoint>,
    /// The token a constrained answer ends with, when the model does not stop on it by itself
    /// (see [`grammar_end_token`]); a stop sequence of every constrained request.
    grammar_end: Option<String>,
    /// The model's tokenizer, for token texts.
    tokens: TokenText,
    /// Held by a raw-logits request while it runs: mistral.rs batches concurrent raw-logits
    /// prompts together and then refuses them ("Raw response only supports batch size of 1").
    raw_logits: tokio::sync::Mutex<()>,
}

impl Engine {
    /// Loads `spec` on the CPU, fully offline (tokenizer and chat template come from the GGUF
    /// metadata or the checkpoint directory).
    ///
    /// The prefix cache keeps at most `spec.prefix_cache_mb` megabytes of KV (0: off). As
    /// published, mistral.rs 0.8.1 never evicted on the CPU (a load test of 2,000 short requests
    /// grew the server to 24 GB); the vendored copy bounds it (see [`super::prefix_cache`]).
    ///
    /// At most `spec.max_seqs` sequences are decoded together (default 1): on this CPU engine a
    /// batch of sequences is slower than the same sequences one after the other.
    pub async fn load(spec: &ModelSpec) -> Result<Engine> {
        let format = spec.format()?;
        // mistral.rs's count of caches kept on an accelerator; on the CPU only the byte bound
        // counts. `None` turns the prefix cache off.
        let prefix_cache_n = (spec.prefix_cache_mb > 0).then_some(1);
        let mut staged = None;
        let model = match format {
            ModelFormat::Gguf => {
                let (dir, file) = split_file(&spec.path)?;
                let builder = GgufModelBuilder::new(dir, vec![file])
                    .with_force_cpu()
                    .with_token_source(TokenSource::None)
                    .with_prefix_cache_n(prefix_cache_n)
                    .with_max_num_seqs(spec.max_seqs.max(1));
                prefix_cache::with_bound(spec.prefix_cache_mb, builder.build())
                    .await
                    .map_err(|error| load_error(&spec.path, error))?
            }
            ModelFormat::Safetensors => {
                // mistral.rs reads config.json itself: a config in another transformers shape
                // (5.x's `rope_parameters`) is normalised into a staging directory first.
                staged = StagedCheckpoint::for_dir(&spec.path)?;
                let source = staged.as_ref().map_or(spec.path.as_path(), |s| s.dir());
                let dir = source.to_str().ok_or_else(|| Error::Model {
                    path: spec.path.clone(),
                    message: "the path is not valid UTF-8".to_string(),
                })?;
                // The builder is chosen from the architecture: mistral.rs 0.8.1 loads some text
                // checkpoints only through its multimodal pipeline (see `Loader::of`).
                macro_rules! built {
                    ($builder:expr) => {{
                        let mut builder = $builder
                            .with_force_cpu()
                            .with_token_source(TokenSource::None)
                            .with_prefix_cache_n(prefix_cache_n)
                            .with_max_num_seqs(spec.max_seqs.max(1))
                            .with_dtype(ModelDType::F32);
                        if let Some(isq) = spec.isq {
                            builder = builder.with_isq(isq.to_mistralrs());
                        }
                        prefix_cache::with_bound(spec.prefix_cache_mb, builder.build())
                            .await
                            .map_err(|error| load_error(&spec.path, error))?
                    }};
                }
                match Loader::of(source)? {
                    Loader::Text => built!(TextModelBuilder::new(dir)),
                    Loader::Multimodal(kind) => {
                        built!(MultimodalModelBuilder::new(dir).with_loader_type(kind))
                    }
                }
            }
        };
        let context_length = model
            .max_sequence_length()
            .map_err(|e| Error::Engine(e.to_string()))?
            .unwrap_or(2048);
        let grammar_end = match format {
            ModelFormat::Safetensors => grammar_end_token(&spec.path),
            ModelFormat::Gguf => None,
        };
        let tokens = TokenText::load(&spec.path, format)?;
        let weights = spec.path.clone();
        let sha256 = tokio::task::spawn_blocking(move || checkpoint::weights_sha256(&weights))
            .await
            .map_err(|e| Error::Engine(e.to_string()))??;
        let info = ModelInfo {
            id: spec.id.clone(),
            path: spec.path.display().to_string(),
            quantization: spec.quantization(format),
            context_length,
            sha256,
        };
        Ok(Engine {
            model,
            info,
            _staged: staged,
            grammar_end,
            tokens,
            raw_logits: tokio::sync::Mutex::new(()),
        })
    }

    /// What the model is.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The model's tokenizer.
    pub fn token_text(&self) -> &TokenText {
        &self.tokens
    }

    /// The ids the engine reads for `prompt` (chat template and generation prompt included).
    pub async fn prompt_ids(&self, prompt: &Prompt) -> Result<Vec<u32>> {
        let text = match prompt {
            Prompt::Chat(messages) => either::Either::Left(text_messages(messages)),
            Prompt::Text(text) => either::Either::Right(text.clone()),
            Prompt::Tokens(ids) => return Ok(ids.clone()),
        };
        self.model
            .tokenize(text, None, true, true, None)
            .await
            .map_err(|e| Error::Engine(e.to_string()))
    }

    /// Starts generating; events arrive through the returned [`Generation`].
    pub async fn generate(
        &self,
        request: GenerationRequest,
        prompt_tokens: usize,
    ) -> Result<Generation> {
        let (sender, receiver) = channel(64);
        let max_tokens = request.max_tokens;
        let trimmer = StopTrimmer::new(&request.stop);
        let messages = match request.prompt {
            Prompt::Chat(messages) => text_messages(&messages).take_messages(),
            Prompt::Text(text) => RequestMessage::Completion {
                text,
                echo_prompt: false,
                best_of: None,
            },
            Prompt::Tokens(ids) => RequestMessage::CompletionTokens(ids),
        };
        let temperature = request.temperature.filter(|t| *t > 0.0);
        // r2l chooses the tokens (mistral.rs set to greedy takes them) for log-probabilities,
        // for a seeded draw and for any control; an unseeded draw then takes a fresh seed.
        let r2l_chooses = request.logprobs.is_some()
            || (temperature.is_some() && request.seed.is_some())
            || !request.controls.is_none();
        let choice = Choice::of(
            temperature,
            request.top_p,
            request.seed.unwrap_or_else(rand::random),
            &request.controls,
        );
        let chooser = Chooser::new(choice, request.controls);
        let mut logits_processors = None;
        let mut chosen = None;
        let mut sampling = match (temperature, r2l_chooses) {
            (_, true) => {
                let processor: Arc<dyn mistralrs::CustomLogitsProcessor> = match request.logprobs {
                    Some(top) => {
                        let (recorder, record) = Recorder::new(chooser, top);
                        chosen = Some(record);
                        Arc::new(recorder)
                    }
                    None => Arc::new(chooser),
                };
                logits_processors = Some(vec![processor]);
                SamplingParams::deterministic()
            }
            (None, false) => SamplingParams::deterministic(),
            (Some(temperature), false) => {
                let mut sampling = SamplingParams::neutral();
                sampling.temperature = Some(temperature);
                sampling.top_p = request.top_p;
                sampling
            }
        };
        sampling.max_len = Some(request.max_tokens);
        let mut stop = request.stop;
        if let (Some(_), Some(end)) = (&request.json_schema, &self.grammar_end) {
            stop.push(end.clone());
        }
        if !stop.is_empty() {
            sampling.stop_toks = Some(StopTokens::Seqs(stop));
        }
        let constraint = request
            .json_schema
            .map_or(Constraint::None, Constraint::JsonSchema);
        let normal = NormalRequest {
            messages,
            sampling_params: sampling,
            response: sender,
            return_logprobs: false,
            is_streaming: true,
            id: 0,
            constraint,
            suffix: None,
            tools: None,
            tool_choice: None,
            logits_processors,
            return_raw_logits: false,
            web_search_options: None,
            model_id: None,
            truncate_sequence: false,
        };
        let engine_sender = self
            .model
            .inner()
            .get_sender(None)
            .map_err(|e| Error::Engine(e.to_string()))?;
        engine_sender
            .send(Request::Normal(Box::new(normal)))
            .await
            .map_err(|_| Error::Engine("the engine is not running".to_string()))?;
        Ok(Generation {
            receiver,
            stop: trimmer,
            prompt_tokens,
            completion_tokens: 0,
            max_tokens,
            pending: None,
            finished: false,
            chosen,
        })
    }
}

impl Engine {
    /// The raw logits of one forward pass over the exact ids `tokens` (no chat template): one
    /// row of vocabulary scores per prompt position (the vendored engine skips the prefix cache
    /// for such requests), row `i` scoring the token after position `i`.
    pub async fn prompt_logits(&self, tokens: Vec<u32>) -> Result<Vec<Vec<f32>>> {
        let _one_at_a_time = self.raw_logits.lock().await;
        let (sender, mut receiver) = channel(4);
        let mut sampling = SamplingParams::deterministic();
        sampling.max_len = Some(1);
        let normal = NormalRequest {
            messages: RequestMessage::CompletionTokens(tokens),
            sampling_params: sampling,
            response: sender,
            return_logprobs: false,
            is_streaming: false,
            id: 0,
            constraint: Constraint::None,
            suffix: None,
            tools: None,
            tool_choice: None,
            logits_processors: None,
            return_raw_logits: true,
            web_search_options: None,
            model_id: None,
            truncate_sequence: false,
        };
        let engine_sender = self
            .model
            .inner()
            .get_sender(None)
            .map_err(|e| Error::Engine(e.to_string()))?;
        engine_sender
            .send(Request::Normal(Box::new(normal)))
            .await
            .map_err(|_| Error::Engine("the engine is not running".to_string()))?;
        loop {
            match receiver.recv().await {
                Some(Response::Raw { logits_chunks, .. }) => {
                    if logits_chunks.is_empty() {
                        return Err(Error::Engine("no logits returned".to_string()));
                    }
                    // A long prompt is prefilled in chunks, one tensor of rows each.
                    let mut rows = Vec::new();
                    for chunk in &logits_chunks {
                        let vocab = chunk.dims().last().copied().unwrap_or(0);
                        let chunk_rows = chunk
                            .to_dtype(candle_core::DType::F32)
                            .and_then(|t| t.reshape(((), vocab)))
                            .and_then(|t| t.to_vec2::<f32>())
                            .map_err(|e| Error::Engine(e.to_string()))?;
                        rows.extend(chunk_rows);
                    }
                    return Ok(rows);
                }
                Some(Response::ModelError(message, _)) => return Err(Error::Engine(message)),
                Some(Response::ValidationError(e)) | Some(Response::InternalError(e)) => {
                    return Err(Error::Engine(e.to_string()))
                }
                Some(_) => continue,
                None => return Err(Error::Engine("the engine closed the stream".to_string())),
            }
        }
    }
}

impl Engine {
    /// Each token of `ids` after the first with its log-probability given the tokens before it
    /// and its `top` likeliest alternatives, from one forward pass over `ids` (no prefix cache:
    /// every position is computed). The first token has none: nothing precedes it.
    pub async fn prompt_logprobs(&self, ids: &[u32], top: usize) -> Result<Vec<Option<Chosen>>> {
        let rows = self.prompt_logits(ids.to_vec()).await?;
        if rows.len() < ids.len() {
            return Err(Error::Engine(format!(
                "the engine returned logits for {} of {} prompt positions",
                rows.len(),
                ids.len()
            )));
        }
        let mut out = Vec::with_capacity(ids.len());
        out.push(None);
        for (row, &id) in rows.iter().zip(&ids[1..]) {
            let logprobs = log_softmax(row);
            let logprob = logprobs
                .get(id as usize)
                .copied()
                .ok_or_else(|| Error::Engine(format!("token id {id} is outside the vocabulary")))?;
            out.push(Some(Chosen {
                id,
                logprob,
                top: top_k(&logprobs, top),
            }));
        }
        Ok(out)
    }
}

/// Our wire messages as mistral.rs text messages.
fn text_messages(messages: &[chat::Message]) -> TextMessages {
    messages.iter().fold(TextMessages::new(), |all, message| {
        let role = match message.role {
            chat::Role::System | chat::Role::Developer => TextMessageRole::System,
            chat::Role::User => TextMessageRole::User,
            chat::Role::Assistant => TextMessageRole::Assistant,
        };
        all.add_message(role, &message.content)
    })
}

/// Which mistral.rs pipeline loads a safetensors checkpoint.
#[derive(Debug, Clone)]
enum Loader {
    /// The text pipeline, its loader chosen by mistral.rs from `architectures` (Llama, Qwen2,
    /// Qwen3, Mistral, ...; an architecture it does not know fails there, naming it).
    Text,
    /// The multimodal pipeline, for a text model mistral.rs 0.8.1 implements only there:
    /// `Gemma3ForCausalLM` (its Gemma 3 loader reads a text-only config as
    /// `Gemma3Config::Text`, with no vision tower and no image processor files).
    Multimodal(MultimodalLoaderType),
}

impl Loader {
    /// The loader of the checkpoint in `dir` (the directory mistral.rs reads), from its
    /// normalised `config.json`'s `architectures` (or `model_type`).
    fn of(dir: &Path) -> Result<Loader> {
        let config = checkpoint::read_normalized(&dir.join(checkpoint::CONFIG_FILE))?;
        let name = config["architectures"]
            .get(0)
            .or_else(|| config.get("model_type"))
            .and_then(serde_json::Value::as_str);
        Ok(match name.and_then(checkpoint::Architecture::named) {
            Some(checkpoint::Architecture::Gemma3) => {
                Loader::Multimodal(MultimodalLoaderType::Gemma3)
            }
            _ => Loader::Text,
        })
    }
}

fn load_error(path: &Path, error: impl std::fmt::Display) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        message: format!("loading failed: {error:#}"),
    }
}

fn split_file(path: &Path) -> Result<(String, String)> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match (parent.to_str(), path.file_name().and_then(|n| n.to_str())) {
        (Some(dir), Some(file)) => Ok((dir.to_string(), file.to_string())),
        _ => Err(Error::Model {
            path: path.to_path_buf(),
            message: "the path is not valid UTF-8".to_string(),
        }),
    }
}

/// A shared engine (handlers and clients hold it behind an `Arc`).
pub type SharedEngine = Arc<Engine>;
