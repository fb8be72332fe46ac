//! The one path every agent call takes: the answer cache first; otherwise a budget reservation,
//! a slot of the run's concurrency, the request with retries and backoff (timeouts, 429, 5xx),
//! and a ledger line. Answers that do not parse are asked again with a repair turn.

use std::sync::Arc;

use chat::{ChatError, ChatResponse, Message, RetryPolicy, Usage};
use tokio::sync::Semaphore;

use crate::agents::Agent;
use crate::ledger::{Ledger, LedgerLine};

/// Why a sample cannot go on.
#[derive(Debug, Clone, PartialEq)]
pub enum Halt {
    /// The next paid call would exceed the budget.
    Budget,
    /// Something that stops the whole run (e.g. a file cannot be written).
    Fatal(String),
}

/// Where a call belongs, for the ledger.
#[derive(Debug, Clone, Copy)]
pub struct CallSite<'a> {
    /// The sample id.
    pub sample: &'a str,
    /// The protocol phase.
    pub phase: &'a str,
}

/// An answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    /// The text.
    pub text: String,
    /// `stop`, `length`, ...
    pub finish_reason: Option<String>,
    /// The tokens the endpoint reported (for a cache hit: when the answer was paid for); None
    /// when it reported none.
    pub usage: Option<Usage>,
}

/// A parsed answer, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply<T> {
    /// The parsed value, or the last reason it could not be had (parse failure or call error).
    pub value: std::result::Result<T, String>,
    /// The last raw answer, if any arrived.
    pub raw: Option<String>,
    /// Repair turns asked after answers that did not parse.
    pub parse_retries: u32,
    /// Tokens of every attempt (the first answer and the repair turns), as the endpoint
    /// reported them; a failed call or an answer without `usage` adds none.
    pub usage: Usage,
}

/// Makes the calls of one run.
pub struct Caller {
    ledger: Arc<Ledger>,
    permits: Arc<Semaphore>,
    retry: RetryPolicy,
    parse_retries: u32,
    seed: u64,
}

impl Caller {
    /// A caller charging `ledger`, with `concurrency` paid calls in flight at most, `retry`
    /// for failed attempts, `parse_retries` repair turns, and `seed` sent with every request.
    pub fn new(
        ledger: Arc<Ledger>,
        concurrency: usize,
        retry: RetryPolicy,
        parse_retries: u32,
        seed: u64,
    ) -> Caller {
        Caller {
            ledger,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            retry,
            parse_retries,
            seed,
        }
    }

    /// The seed sent with every request (protocols also key their shuffles with it).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// Asks `agent` once (with transport retries). `Ok(Err(..))` is a call that failed for
    /// good; `Err` halts the sample.
    pub async fn ask(
        &self,
        agent: &Agent,
        site: CallSite<'_>,
        messages: Vec<Message>,
    ) -> Result<std::result::Result<Asked, String>, Halt> {
        let request = agent.request(messages, self.seed);
        let line = |source: &str| LedgerLine::new(agent.id(), site.sample, site.phase, source);
        let fatal = |e: crate::error::Error| Halt::Fatal(e.to_string());
        if let Some(response) = agent.client.lookup(&request) {
            let mut hit = line("cache");
            if let Some(usage) = &response.usage {
                (hit.prompt_tokens, hit.completion_tokens) =
                    (usage.prompt_tokens, usage.completion_tokens);
            }
            self.ledger.record(hit).map_err(fatal)?;
            return Ok(Ok(asked(response)));
        }
        let reservation = self
            .ledger
            .reserve(agent.worst_case_cost(&request))
            .map_err(|_| Halt::Budget)?;
        let mut retries = 0u32;
        let (permits, inner, request_ref) = (&self.permits, agent.client.inner(), &request);
        let outcome = chat::with_retries(
            &self.retry,
            move || async move {
                let _slot = permits
                    .acquire()
                    .await
                    .map_err(|_| ChatError::Engine("the run is shutting down".to_string()))?;
                inner.chat(request_ref).await
            },
            |_| retries += 1,
        )
        .await;
        match outcome {
            Ok(response) => {
                agent
                    .client
                    .store(&request, &response)
                    .map_err(|e| Halt::Fatal(e.to_string()))?;
                let mut paid = line("client");
                paid.retries = retries;
                self.ledger
                    .settle(reservation, paid, response.usage, |usage| {
                        agent.cost(usage.prompt_tokens, usage.completion_tokens)
                    })
                    .map_err(fatal)?;
                Ok(Ok(asked(response)))
            }
            Err(error) => {
                self.ledger.release(reservation);
                let mut failed = line("failed");
                failed.retries = retries;
                failed.error = Some(error.to_string());
                self.ledger.record(failed).map_err(fatal)?;
                Ok(Err(error.to_string()))
            }
        }
    }

    /// Asks `agent` and parses the answer with `parse`; an answer that does not parse is
    /// followed by a repair turn (the answer, then a user message saying why it could not be
    /// read), up to the run's parse retries.
    pub async fn ask_parsed<T>(
        &self,
        agent: &Agent,
        site: CallSite<'_>,
        messages: Vec<Message>,
        parse: impl Fn(&str) -> std::result::Result<T, String>,
    ) -> Result<Reply<T>, Halt> {
        let mut conversation = messages;
        let mut parse_retries = 0;
        let mut usage = Usage::default();
        loop {
            let phase = if parse_retries == 0 {
                site.phase.to_string()
            } else {
                format!("{}/repair-{parse_retries}", site.phase)
            };
            let at = CallSite {
                sample: site.sample,
                phase: &phase,
            };
            let answer = match self.ask(agent, at, conversation.clone()).await? {
                Ok(answer) => answer,
                Err(error) => {
                    return Ok(Reply {
                        value: Err(error),
                        raw: None,
                        parse_retries,
                        usage,
                    })
                }
            };
            if let Some(spent) = &answer.usage {
                usage.add(spent);
            }
            match parse(&answer.text) {
                Ok(value) => {
                    return Ok(Reply {
                        value: Ok(value),
                        raw: Some(answer.text),
                        parse_retries,
                        usage,
                    })
                }
                Err(reason) if parse_retries >= self.parse_retries => {
                    return Ok(Reply {
                        value: Err(reason),
                        raw: Some(answer.text),
                        parse_retries,
                        usage,
                    })
                }
                Err(reason) => {
                    parse_retries += 1;
                    conversation.push(Message::assistant(answer.text));
                    conversation.push(Message::user(format!(
                        "Your answer could not be read: {reason}. Answer again, exactly in the format asked for above."
                    )));
                }
            }
        }
    }
}

fn asked(response: ChatResponse) -> Asked {
    Asked {
        text: response.text().to_string(),
        finish_reason: response.finish_reason().map(str::to_string),
        usage: response.usage,
    }
}
