//! Log-likelihood multiple choice, as lm-eval scores ARC, CommonsenseQA or MedMCQA for small
//! models: the context is the task's prompt as raw text (no chat template), each choice's
//! continuation is `" " + its text`, and a choice's log-likelihood is the sum of its tokens'
//! log-probabilities after the context. `acc` takes the likeliest choice, `acc_norm` the
//! likeliest per character of the choice's text (lm-eval's `len(choice)`: characters, without
//! the space before it).
//!
//! The request is one legacy completion with every `context + continuation` as a prompt,
//! `echo: true`, `max_tokens: 0` and `logprobs: 0`, which any OpenAI-compatible server with
//! echo (`r2l serve`, vLLM, llama.cpp's server) and the in-process engine answer.

use chat::{CompletionRequest, CompletionResponse, Prompt};

use super::aggregate::CorpusMetrics;
use super::judge::Judgement;
use super::sample::{Diagnostics, Judged, SampleFigure, SampleScore, SampleStatus};
use crate::data::{Sample, Target};
use crate::error::{Error, Result};
use crate::metrics::Accuracy;
use crate::task::{render, Task};

/// The names of the corpus metrics this scorer reports, in report order.
pub const METRICS: [&str; 2] = ["acc", "acc_norm"];

/// The corpus metrics this scorer reports, in report order.
pub fn metric_names() -> Vec<&'static str> {
    METRICS.to_vec()
}

/// `acc` and `acc_norm` over the records.
pub(super) fn corpus_metrics(records: &[SampleScore]) -> Result<CorpusMetrics> {
    let (mut plain, mut normed) = (Vec::new(), Vec::new());
    for record in records {
        let SampleFigure::LogLikelihood {
            correct,
            correct_norm,
        } = record.score
        else {
            return Err(Error::InvalidInput(format!(
                "sample `{}` has no log-likelihood judgement",
                record.id
            )));
        };
        plain.push(correct);
        normed.push(correct_norm);
    }
    Ok(CorpusMetrics::LogLikelihood(
        Accuracy::new(plain),
        Accuracy::new(normed),
    ))
}

/// The continuation of a choice: a space, then its text.
pub fn continuation(text: &str) -> String {
    format!(" {text}")
}

/// The context a sample's choices continue: the task's system prompt (if any), a blank line,
/// then its user prompt, rendered for the sample.
pub fn context(task: &Task, sample: &Sample) -> String {
    let user = render(&task.prompt.user, task, sample);
    match &task.prompt.system {
        Some(system) => format!("{}\n\n{user}", render(system, task, sample)),
        None => user,
    }
}

/// The scoring request for `sample` to `model`: one prompt per choice.
pub fn request(task: &Task, model: &str, sample: &Sample) -> CompletionRequest {
    let context = context(task, sample);
    CompletionRequest {
        model: model.to_string(),
        prompt: Prompt::Many(
            sample
                .choices
                .iter()
                .map(|choice| context.clone() + &continuation(&choice.text))
                .collect(),
        ),
        max_tokens: Some(0),
        temperature: Some(0.0),
        top_p: None,
        seed: None,
        stop: None,
        n: None,
        stream: None,
        logprobs: Some(0),
        echo: Some(true),
        other: Default::default(),
    }
}

/// Each choice's log-likelihood from the server's answer to [`request`]: the sum over the tokens
/// that end after the context's `context_bytes` (a token straddling the boundary counts; it
/// holds continuation text).
pub fn loglikelihoods(
    response: &CompletionResponse,
    context_bytes: usize,
    choices: usize,
) -> Result<Vec<f64>, String> {
    if response.choices.len() != choices {
        return Err(format!(
            "{} choices scored, {choices} asked for",
            response.choices.len()
        ));
    }
    let mut ordered: Vec<_> = response.choices.iter().collect();
    ordered.sort_by_key(|choice| choice.index);
    ordered
        .iter()
        .map(|choice| {
            let logprobs = choice
                .logprobs
                .as_ref()
                .ok_or_else(|| format!("choice {} has no `logprobs`", choice.index))?;
            let n = logprobs.token_logprobs.len();
            if logprobs.text_offset.len() != n {
                return Err(format!(
                    "choice {}: {n} log-probabilities but {} offsets",
                    choice.index,
                    logprobs.text_offset.len()
                ));
            }
            let mut sum = 0.0;
            let mut counted = 0;
            for j in 0..n {
                let end = logprobs
                    .text_offset
                    .get(j + 1)
                    .copied()
                    .unwrap_or(choice.text.len());
                if end <= context_bytes {
                    continue;
                }
                let logprob = logprobs.token_logprobs[j].ok_or_else(|| {
                    format!(
                        "choice {}: continuation token {j} has no log-probability",
                        choice.index
                    )
                })?;
                sum += logprob;
                counted += 1;
            }
            if counted == 0 {
                return Err(format!(
                    "choice {}: no token after the context (was the prompt echoed?)",
                    choice.index
                ));
            }
            Ok(sum)
        })
        .collect()
}

/// The index of the largest value (the first among ties, as numpy's `argmax`).
fn argmax(values: impl Iterator<Item = f64>) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, v) in values.enumerate() {
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

/// Judges a sample from its choices' log-likelihoods (None: the request failed → missing).
pub fn judge(sample: &Sample, loglikelihoods: Option<&[f64]>) -> Judgement {
    let gold = match &sample.target {
        Target::Answer { value } => value.clone(),
        _ => String::new(),
    };
    let pick = |index: Option<usize>| index.and_then(|i| sample.choices.get(i));
    let (prediction, correct, correct_norm, status) = match loglikelihoods {
        Some(lls) if lls.len() == sample.choices.len() && !lls.is_empty() => {
            let plain = pick(argmax(lls.iter().copied()));
            let normed = pick(argmax(
                lls.iter()
                    .zip(&sample.choices)
                    .map(|(ll, c)| ll / c.text.chars().count().max(1) as f64),
            ));
            (
                plain.map(|c| Judged::Answer(c.label.clone())),
                plain.is_some_and(|c| c.label == gold),
                normed.is_some_and(|c| c.label == gold),
                SampleStatus::Scored,
            )
        }
        _ => (None, false, false, SampleStatus::Missing),
    };
    Judgement {
        record: SampleScore {
            id: sample.id.clone(),
            status,
            reason: None,
            prediction,
            gold: Judged::Answer(gold),
            correct: Some(correct),
            score: SampleFigure::LogLikelihood {
                correct,
                correct_norm,
            },
        },
        diagnostics: Diagnostics {
            missing: usize::from(status == SampleStatus::Missing),
            ..Diagnostics::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Choice;
    use chat::{CompletionChoice, CompletionLogprobs};

    fn sample() -> Sample {
        let choice = |label: &str, text: &str| Choice {
            label: label.to_string(),
            text: text.to_string(),
        };
        Sample {
            id: "q1".to_string(),
            input: "Which is a gas?".to_string(),
            choices: vec![choice("A", "iron"), choice("B", "oxygen gas")],
            target: Target::Answer {
                value: "B".to_string(),
            },
            meta: Default::default(),
        }
    }

    #[test]
    fn acc_takes_the_likeliest_choice_and_acc_norm_the_likeliest_per_character() {
        // "iron" (4 chars) at -5.0 → -1.25/char; "oxygen gas" (10 chars) at -6.6 → -0.66/char.
        let judged = judge(&sample(), Some(&[-5.0, -6.6]));
        assert_eq!(judged.record.prediction, Some(Judged::Answer("A".into())));
        assert_eq!(judged.record.correct, Some(false));
        assert_eq!(
            judged.record.score,
            SampleFigure::LogLikelihood {
                correct: false,
                correct_norm: true
            }
        );
        let missing = judge(&sample(), None);
        assert_eq!(missing.record.status, SampleStatus::Missing);
        assert_eq!(missing.diagnostics.missing, 1);
        // Ties go to the first choice, as numpy's argmax.
        assert_eq!(argmax([1.0, 3.0, 3.0].into_iter()), Some(1));
    }

    #[test]
    fn continuation_tokens_are_those_ending_after_the_context() {
        // Context "Q: x\nA:" (7 bytes), continuation " iron" split " ir" + "on".
        let choice = |index: u32, lps: Vec<Option<f64>>, offsets: Vec<usize>| CompletionChoice {
            index,
            text: "Q: x\nA: iron".to_string(),
            finish_reason: Some("length".to_string()),
            logprobs: Some(CompletionLogprobs {
                tokens: vec![String::new(); lps.len()],
                top_logprobs: vec![None; lps.len()],
                token_logprobs: lps,
                text_offset: offsets,
            }),
        };
        let response = CompletionResponse {
            id: String::new(),
            object: "text_completion".to_string(),
            created: 0,
            model: "m".to_string(),
            choices: vec![
                choice(
                    1,
                    vec![None, Some(-0.5), Some(-1.0), Some(-2.0)],
                    vec![0, 3, 7, 10],
                ),
                choice(
                    0,
                    vec![None, Some(-0.5), Some(-1.5), Some(-0.25)],
                    vec![0, 3, 7, 10],
                ),
            ],
            usage: None,
        };
        let lls = loglikelihoods(&response, 7, 2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            lls,
            vec![-1.75, -3.0],
            "ordered by index, context tokens left out"
        );
        assert!(loglikelihoods(&response, 7, 3).is_err());
        assert!(
            loglikelihoods(&response, 12, 2).is_err(),
            "nothing after the context"
        );
    }

    #[test]
    fn the_request_echoes_one_prompt_per_choice_without_generating() {
        let task = crate::task::resolve_task("arc-challenge-ll").unwrap_or_else(|e| panic!("{e}"));
        let request = request(&task, "m", &sample());
        assert_eq!(
            (request.echo, request.max_tokens, request.logprobs),
            (Some(true), Some(0), Some(0))
        );
        let Prompt::Many(prompts) = &request.prompt else {
            panic!("{:?}", request.prompt)
        };
        let context = context(&task, &sample());
        assert_eq!(
            prompts,
            &vec![format!("{context} iron"), format!("{context} oxygen gas")]
        );
    }
}
