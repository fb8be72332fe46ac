//! The ledger: every agent call of a run (paid, answered from the cache, or failed), appended to
//! `ledger.jsonl` in the output directory as it happens, summed per agent, and checked against
//! the budget before each paid call. Token counts are the `usage` the endpoints returned.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chat::Usage;
use serde::{Deserialize, Serialize};

use crate::error::{io_error, Error, Result};
use crate::store::read_lines;

/// One line of `ledger.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerLine {
    /// The agent.
    pub agent: String,
    /// The sample the call was for.
    pub sample: String,
    /// The protocol phase (e.g. `detection`, `detection/repair-1`).
    pub phase: String,
    /// `client` (paid), `cache` (no request sent) or `failed` (no answer after retries).
    pub source: String,
    /// Prompt tokens the endpoint reported (for a cache hit: when the answer was paid for).
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Completion tokens the endpoint reported (for a cache hit: when the answer was paid for).
    #[serde(default)]
    pub completion_tokens: u64,
    /// What the call cost (USD).
    #[serde(default)]
    pub cost_usd: f64,
    /// Attempts retried before the call succeeded or gave up.
    #[serde(default)]
    pub retries: u32,
    /// The endpoint returned no `usage`: the call is charged its worst case.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub usage_missing: bool,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl LedgerLine {
    /// A call of `agent` for `sample` in `phase` answered from `source`, with nothing counted yet.
    pub fn new(agent: &str, sample: &str, phase: &str, source: &str) -> LedgerLine {
        LedgerLine {
            agent: agent.to_string(),
            sample: sample.to_string(),
            phase: phase.to_string(),
            source: source.to_string(),
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: 0.0,
            retries: 0,
            usage_missing: false,
            error: None,
        }
    }
}

/// One agent's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentLedger {
    /// Paid calls (answered by the endpoint).
    pub calls: u64,
    /// Calls answered from the cache.
    pub cache_hits: u64,
    /// Sum of the prompt tokens the endpoint reported for paid calls.
    pub prompt_tokens: u64,
    /// Sum of the completion tokens the endpoint reported for paid calls.
    pub completion_tokens: u64,
    /// What the paid calls cost (USD).
    pub cost_usd: f64,
    /// Sum of the prompt tokens of the answers taken from the cache (paid for earlier, not now).
    #[serde(default)]
    pub cached_prompt_tokens: u64,
    /// Sum of the completion tokens of the answers taken from the cache.
    #[serde(default)]
    pub cached_completion_tokens: u64,
    /// Calls that failed after every retry.
    pub failed_calls: u64,
    /// Attempts retried (timeouts, 429, 5xx, broken connections).
    pub transport_retries: u64,
}

impl AgentLedger {
    fn add(&mut self, line: &LedgerLine) {
        match line.source.as_str() {
            "client" => {
                self.calls += 1;
                self.prompt_tokens += line.prompt_tokens;
                self.completion_tokens += line.completion_tokens;
                self.cost_usd += line.cost_usd;
            }
            "cache" => {
                self.cache_hits += 1;
                self.cached_prompt_tokens += line.prompt_tokens;
                self.cached_completion_tokens += line.completion_tokens;
            }
            _ => self.failed_calls += 1,
        }
        self.transport_retries += u64::from(line.retries);
    }
}

/// Money set aside for a call in flight.
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use = "settle or release the reservation"]
pub struct Reservation {
    amount: f64,
}

/// The budget would be exceeded by the next call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetReached {
    /// Spent so far (USD), over every run in this directory.
    pub spent: f64,
    /// The budget (USD).
    pub budget: f64,
}

struct State {
    per_agent: BTreeMap<String, AgentLedger>,
    spent: f64,
    reserved: f64,
    file: std::fs::File,
}

/// The run's ledger.
pub struct Ledger {
    path: PathBuf,
    budget: Option<f64>,
    state: Mutex<State>,
}

impl Ledger {
    /// Opens (or creates) `ledger.jsonl` at `path`, summing what earlier runs in the same
    /// directory recorded; `budget` (USD) caps the total.
    pub fn open(path: &Path, budget: Option<f64>) -> Result<Ledger> {
        let mut per_agent: BTreeMap<String, AgentLedger> = BTreeMap::new();
        let mut spent = 0.0;
        for (line, value) in read_lines(path)? {
            let entry: LedgerLine =
                serde_json::from_value(value).map_err(|e| Error::Malformed {
                    path: path.to_path_buf(),
                    line,
                    message: e.to_string(),
                })?;
            spent += entry.cost_usd;
            per_agent
                .entry(entry.agent.clone())
                .or_default()
                .add(&entry);
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io_error(path))?;
        Ok(Ledger {
            path: path.to_path_buf(),
            budget,
            state: Mutex::new(State {
                per_agent,
                spent,
                reserved: 0.0,
                file,
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets `worst_case` USD aside for a call, unless spent + reserved + it would pass the budget.
    pub fn reserve(&self, worst_case: f64) -> std::result::Result<Reservation, BudgetReached> {
        let mut state = self.state();
        if let Some(budget) = self.budget {
            if state.spent + state.reserved + worst_case > budget {
                return Err(BudgetReached {
                    spent: state.spent,
                    budget,
                });
            }
        }
        state.reserved += worst_case;
        Ok(Reservation { amount: worst_case })
    }

    /// Gives a reservation back (the call failed: failed calls are not charged).
    pub fn release(&self, reservation: Reservation) {
        let mut state = self.state();
        state.reserved = (state.reserved - reservation.amount).max(0.0);
    }

    /// Records a paid call: its reservation becomes its real cost (`cost` of the reported
    /// usage, or the whole reservation when the endpoint reported none).
    pub fn settle(
        &self,
        reservation: Reservation,
        mut line: LedgerLine,
        usage: Option<Usage>,
        cost: impl Fn(&Usage) -> f64,
    ) -> Result<()> {
        match usage {
            Some(usage) => {
                line.prompt_tokens = usage.prompt_tokens;
                line.completion_tokens = usage.completion_tokens;
                line.cost_usd = cost(&usage);
            }
            None => {
                line.usage_missing = true;
                line.cost_usd = reservation.amount;
            }
        }
        let mut state = self.state();
        state.reserved = (state.reserved - reservation.amount).max(0.0);
        state.spent += line.cost_usd;
        self.append(&mut state, &line)
    }

    /// Records a call answered from the cache, or one that failed.
    pub fn record(&self, line: LedgerLine) -> Result<()> {
        let mut state = self.state();
        self.append(&mut state, &line)
    }

    fn append(&self, state: &mut State, line: &LedgerLine) -> Result<()> {
        state
            .per_agent
            .entry(line.agent.clone())
            .or_default()
            .add(line);
        let mut text = serde_json::to_string(line).map_err(|e| Error::Fatal(e.to_string()))?;
        text.push('\n');
        state
            .file
            .write_all(text.as_bytes())
            .map_err(io_error(&self.path))
    }

    /// Totals per agent, over every run in this directory.
    pub fn per_agent(&self) -> BTreeMap<String, AgentLedger> {
        self.state().per_agent.clone()
    }

    /// Spent so far (USD).
    pub fn spent(&self) -> f64 {
        self.state().spent
    }

    /// The budget (USD), if any.
    pub fn budget(&self) -> Option<f64> {
        self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(agent: &str, source: &str) -> LedgerLine {
        LedgerLine::new(agent, "s", "detection", source)
    }

    #[test]
    fn the_budget_counts_reservations_in_flight() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let ledger = Ledger::open(&dir.path().join("ledger.jsonl"), Some(1.0))
            .unwrap_or_else(|e| panic!("{e}"));
        let first = ledger.reserve(0.6).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(ledger.reserve(0.6).is_err(), "0.6 + 0.6 > 1.0");
        let usage = Usage {
            prompt_tokens: 100,
            completion_tokens: 10,
            total_tokens: 110,
        };
        ledger
            .settle(first, line("a", "client"), Some(usage), |_| 0.25)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(ledger.reserve(0.7).is_ok(), "0.25 spent + 0.7 <= 1.0");
        assert_eq!(ledger.spent(), 0.25);
    }

    #[test]
    fn totals_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("ledger.jsonl");
        {
            let ledger = Ledger::open(&path, None).unwrap_or_else(|e| panic!("{e}"));
            let reservation = ledger.reserve(1.0).unwrap_or_else(|e| panic!("{e:?}"));
            let usage = Usage {
                prompt_tokens: 7,
                completion_tokens: 3,
                total_tokens: 10,
            };
            ledger
                .settle(reservation, line("a", "client"), Some(usage), |u| {
                    u.total_tokens as f64 / 100.0
                })
                .unwrap_or_else(|e| panic!("{e}"));
            let mut hit = line("a", "cache");
            (hit.prompt_tokens, hit.completion_tokens) = (7, 3);
            ledger.record(hit).unwrap_or_else(|e| panic!("{e}"));
            let missing = ledger.reserve(0.5).unwrap_or_else(|e| panic!("{e:?}"));
            ledger
                .settle(missing, line("b", "client"), None, |_| 0.0)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let ledger = Ledger::open(&path, None).unwrap_or_else(|e| panic!("{e}"));
        let totals = ledger.per_agent();
        assert_eq!(totals["a"].calls, 1);
        assert_eq!(totals["a"].cache_hits, 1);
        assert_eq!(totals["a"].prompt_tokens, 7, "paid tokens only");
        assert_eq!(
            (
                totals["a"].cached_prompt_tokens,
                totals["a"].cached_completion_tokens
            ),
            (7, 3)
        );
        assert_eq!(
            totals["b"].cost_usd, 0.5,
            "no usage: charged the worst case"
        );
        assert!((ledger.spent() - 0.6).abs() < 1e-12);
    }
}
