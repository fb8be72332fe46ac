//! Integration tests of distill: the R2L, Debate & Reflect and AgentArk protocols against
//! scripted OpenAI-compatible agents served over HTTP on 127.0.0.1, on the real UIT-ViSFD and
//! GSM8K train splits; the student trainer on tiny random models and the real default model.

mod agentark;
mod debate;
mod r2l;
mod solvers;
mod student_architectures;
mod student_grpo;
mod student_math;
mod student_prm;
mod student_train;
mod support;
