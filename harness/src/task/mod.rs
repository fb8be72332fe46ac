//! Tasks: declarative TOML specifications (dataset, prompt, scorer, generation settings), the
//! built-in ones, and rendering samples into chat requests.

mod output;
mod persona;
mod prompt;
mod registry;
mod spec;

pub use output::OutputFormat;
pub use persona::{with_system_prefix, Persona};
pub use prompt::{gold_answer, messages, render, request, request_as, select};
pub use registry::{built_in_task_names, few_shot_examples, resolve_task};
pub use spec::{answer_kind, parse_toml, GenerationSettings, PromptTemplate, Task, PLACEHOLDERS};
