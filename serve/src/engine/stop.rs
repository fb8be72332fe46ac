//! Stop sequences cut the way OpenAI cuts them: the answer ends *before* the stop string.
//!
//! mistral.rs 0.8.1 stops on a stop string but hands back the string and the token after it
//! (chat `stop: ["\n\n"]` ended `….\n\nQuestion`). The trimmer sits between the engine's text
//! pieces and every consumer (JSON answers, SSE streams, the in-process client): it holds back
//! text that may be the start of a stop string, so a stop string split across pieces is cut too.

/// Cuts a stream of text pieces at the first stop string.
#[derive(Debug, Clone, Default)]
pub struct StopTrimmer {
    stops: Vec<String>,
    held: String,
    stopped: bool,
}

/// What one piece of text gives the consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trimmed {
    /// Text that is certainly part of the answer (may be empty).
    pub text: String,
    /// A stop string was found: the answer ends after `text`.
    pub stopped: bool,
}

impl StopTrimmer {
    /// A trimmer for `stops` (empty strings are ignored).
    pub fn new(stops: &[String]) -> StopTrimmer {
        StopTrimmer {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
            stopped: false,
        }
    }

    /// Feeds the next piece. After a stop, every further piece gives nothing.
    pub fn push(&mut self, piece: &str) -> Trimmed {
        if self.stopped {
            return Trimmed {
                text: String::new(),
                stopped: true,
            };
        }
        if self.stops.is_empty() {
            return Trimmed {
                text: piece.to_string(),
                stopped: false,
            };
        }
        self.held.push_str(piece);
        let first_stop = self
            .stops
            .iter()
            .filter_map(|stop| self.held.find(stop.as_str()))
            .min();
        if let Some(at) = first_stop {
            self.stopped = true;
            let text = self.held[..at].to_string();
            self.held.clear();
            return Trimmed {
                text,
                stopped: true,
            };
        }
        let keep_from = self.partial_stop_start();
        let text = self.held[..keep_from].to_string();
        self.held.drain(..keep_from);
        Trimmed {
            text,
            stopped: false,
        }
    }

    /// The end of the stream without a stop string: the text held back, if any.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Where the longest tail of the held text that begins some stop string starts (the held
    /// text's length when no tail does).
    fn partial_stop_start(&self) -> usize {
        self.held
            .char_indices()
            .map(|(at, _)| at)
            .find(|&at| {
                let tail = &self.held[at..];
                self.stops.iter().any(|stop| stop.starts_with(tail))
            })
            .unwrap_or(self.held.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut trimmer = StopTrimmer::new(&stops);
        let mut out = String::new();
        for piece in pieces {
            let trimmed = trimmer.push(piece);
            out.push_str(&trimmed.text);
            if trimmed.stopped {
                return (out, true);
            }
        }
        out.push_str(&trimmer.finish());
        (out, false)
    }

    #[test]
    fn cuts_before_the_stop_string_and_drops_what_follows() {
        assert_eq!(
            run(&["\n\n"], &["The answer", " is 5.\n\nQuestion", ": next"]),
            ("The answer is 5.".to_string(), true)
        );
        assert_eq!(
            run(&["Question:", "\n\n"], &["5", "\n\n", "The"]),
            ("5".to_string(), true)
        );
    }

    #[test]
    fn a_stop_string_split_across_pieces_is_cut() {
        assert_eq!(
            run(&["Question:"], &["5 Que", "sti", "on: what"]),
            ("5 ".to_string(), true)
        );
        assert_eq!(run(&["\n\n"], &["a\n", "\nb"]), ("a".to_string(), true));
    }

    #[test]
    fn the_earliest_of_several_stop_strings_wins() {
        assert_eq!(
            run(&["END", "\n"], &["one\ntwo END"]),
            ("one".to_string(), true)
        );
    }

    #[test]
    fn a_partial_match_that_does_not_complete_is_released() {
        assert_eq!(
            run(&["Question:"], &["Ques", "t is over"]),
            ("Quest is over".to_string(), false)
        );
        assert_eq!(run(&["\n\n"], &["end\n"]), ("end\n".to_string(), false));
    }

    #[test]
    fn multibyte_text_is_split_on_character_boundaries() {
        assert_eq!(
            run(&["ồ!"], &["Tuyệt vời", " quá", " ồ", "!", " nữa"]),
            ("Tuyệt vời quá ".to_string(), true)
        );
        assert_eq!(
            run(&["é"], &["caf", "e au lait"]),
            ("cafe au lait".to_string(), false)
        );
    }

    #[test]
    fn without_stop_strings_text_passes_through() {
        assert_eq!(run(&[], &["a\n\n", "b"]), ("a\n\nb".to_string(), false));
        assert_eq!(run(&[""], &["a", "b"]), ("ab".to_string(), false));
    }
}
