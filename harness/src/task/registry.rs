//! Built-in tasks (the TOML files under `harness/tasks/`, embedded) and task lookup by name or path.

use std::path::Path;

use super::prompt::select;
use super::spec::Task;
use crate::data::Sample;
use crate::error::{Error, Result};

/// The built-in task files: (name, TOML text).
const BUILT_IN: [(&str, &str); 20] = [
    ("uit-visfd", include_str!("../../tasks/uit-visfd.toml")),
    (
        "vlsp2018-hotel",
        include_str!("../../tasks/vlsp2018-hotel.toml"),
    ),
    (
        "vlsp2018-restaurant",
        include_str!("../../tasks/vlsp2018-restaurant.toml"),
    ),
    ("uit-visd4sa", include_str!("../../tasks/uit-visd4sa.toml")),
    (
        "absabank-imm",
        include_str!("../../tasks/absabank-imm.toml"),
    ),
    ("gsm8k", include_str!("../../tasks/gsm8k.toml")),
    ("gsm8k-boxed", include_str!("../../tasks/gsm8k-boxed.toml")),
    ("math500", include_str!("../../tasks/math500.toml")),
    ("strategyqa", include_str!("../../tasks/strategyqa.toml")),
    (
        "commonsenseqa",
        include_str!("../../tasks/commonsenseqa.toml"),
    ),
    (
        "arc-challenge",
        include_str!("../../tasks/arc-challenge.toml"),
    ),
    ("medmcqa", include_str!("../../tasks/medmcqa.toml")),
    (
        "arc-challenge-ll",
        include_str!("../../tasks/arc-challenge-ll.toml"),
    ),
    (
        "commonsenseqa-ll",
        include_str!("../../tasks/commonsenseqa-ll.toml"),
    ),
    ("medmcqa-ll", include_str!("../../tasks/medmcqa-ll.toml")),
    (
        "uit-visfd-constrained",
        include_str!("../../tasks/uit-visfd-constrained.toml"),
    ),
    (
        "vlsp2018-hotel-constrained",
        include_str!("../../tasks/vlsp2018-hotel-constrained.toml"),
    ),
    (
        "vlsp2018-restaurant-constrained",
        include_str!("../../tasks/vlsp2018-restaurant-constrained.toml"),
    ),
    (
        "uit-visd4sa-constrained",
        include_str!("../../tasks/uit-visd4sa-constrained.toml"),
    ),
    (
        "absabank-imm-constrained",
        include_str!("../../tasks/absabank-imm-constrained.toml"),
    ),
];

/// The names of the built-in tasks.
pub fn built_in_task_names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(name, _)| *name).collect()
}

/// A task by built-in name, or from a `.toml` file path.
pub fn resolve_task(name_or_path: &str) -> Result<Task> {
    if let Some((name, text)) = BUILT_IN.iter().find(|(name, _)| *name == name_or_path) {
        return Task::from_toml(text, &format!("built-in:{name}"));
    }
    let path = Path::new(name_or_path);
    if name_or_path.ends_with(".toml") || path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        return Task::from_toml(&text, name_or_path);
    }
    Err(Error::Unknown {
        kind: "task",
        name: name_or_path.to_string(),
        valid: format!(
            "{} (or a path to a task .toml file)",
            built_in_task_names().join(", ")
        ),
    })
}

/// `k` few-shot examples from the task dataset's train split, picked by a seeded shuffle.
pub fn few_shot_examples(task: &Task, k: usize, data_dir: &Path, seed: u64) -> Result<Vec<Sample>> {
    if k == 0 {
        return Ok(Vec::new());
    }
    if !task.dataset.splits().contains(&"train") || task.split == "train" {
        return Err(Error::InvalidInput(format!(
            "--few-shot needs a train split distinct from the evaluated one; {} has {}",
            task.dataset,
            task.dataset.splits().join(", ")
        )));
    }
    let train = task.dataset.load("train", data_dir)?;
    Ok(select(&train.samples, Some(k), seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_task_validates_and_is_named_after_its_file() {
        for (name, _) in BUILT_IN {
            let task = resolve_task(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(task.name, name);
            // A constrained variant reads its free-form task's dataset, and only differs in
            // asking for schema-constrained JSON.
            match name.strip_suffix("-constrained") {
                Some(free_form) => {
                    assert_eq!(task.dataset.name(), free_form);
                    assert!(task.output.is_constrained(), "{name}");
                    let free = resolve_task(free_form).unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(task.scorer, free.scorer, "{name}");
                }
                None => {
                    // A paper's evaluation variant (`gsm8k-boxed`) names its dataset first.
                    assert!(
                        name == task.dataset.name()
                            || name.starts_with(&format!("{}-", task.dataset.name())),
                        "{name} reads {}",
                        task.dataset
                    );
                    assert!(!task.output.is_constrained(), "{name}");
                }
            }
        }
    }

    #[test]
    fn gsm8k_boxed_asks_agentarks_prompt_and_scores_the_last_box() {
        let task = resolve_task("gsm8k-boxed").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(task.prompt.system, None);
        assert_eq!(
            task.prompt.user,
            "{{input}}\n\nPlease reason step by step with steps separated by \"\n\n\", and put your final answer within \\boxed{}."
        );
        assert_eq!(task.generation.max_tokens, 3000);
        assert_eq!(task.metrics, vec!["accuracy"]);
        assert_eq!(
            task.scorer,
            crate::scoring::Scorer::Accuracy {
                answer: crate::data::AnswerKind::Integer,
                source: crate::scoring::AnswerSource::LastBoxed,
            }
        );
    }

    #[test]
    fn unknown_tasks_list_the_valid_ones() {
        let message = resolve_task("imdb").map(|_| ()).unwrap_err().to_string();
        assert!(
            message.contains("unknown task `imdb`") && message.contains("gsm8k"),
            "{message}"
        );
    }
}
