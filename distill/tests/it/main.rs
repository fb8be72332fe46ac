//! Integration tests of distill: the R2L protocol against scripted OpenAI-compatible teachers
//! served over HTTP on 127.0.0.1, on the real UIT-ViSFD train split.

mod r2l;
mod student_math;
mod student_train;
mod support;
