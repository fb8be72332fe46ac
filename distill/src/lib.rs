//! r2l's distillation: several teacher agents (any OpenAI-compatible endpoint, or a model
//! in-process) label, explain, revise and are aggregated into training data for a student —
//! SFT rationales, preference pairs and stepwise labels in TRL's formats. Every agent call is
//! cached, metered against a budget and logged, so a run can stop and resume without losing
//! or repeating work.

pub mod agents;
mod call;
mod error;
mod ledger;
mod progress;
pub mod protocols;
mod records;
mod run;
mod stats;
mod store;
pub mod student;

pub use call::{Asked, CallSite, Caller, Halt, Reply};
pub use error::{Error, Result};
pub use ledger::{AgentLedger, BudgetReached, Ledger, LedgerLine, Reservation};
pub use progress::Progress;
pub use records::{DpoRecord, SftRecord, StepwiseRecord};
pub use run::{distill, DistillOptions, Outcome, Status};
pub use stats::{AgentFailures, RecordTotals, Stats};
pub use store::{
    Finished, OutputFiles, DPO_FILE, LEDGER_FILE, MANIFEST_FILE, PREDICTIONS_FILE, SFT_FILE,
    STATIC_FILE, STATS_FILE, STEPWISE_FILE, TRANSCRIPTS_FILE,
};
