//! The arithmetic of AgentArk's process-aware RL (`openrlhf/cli/train_grpo_ray.py`, which runs
//! TRL's `GRPOTrainer` with a PRM reward function): rewards from step probabilities, group
//! advantages, the k3 KL estimator and the clipped policy-gradient loss per token with its
//! derivative (the trainer's head turns `dL/dlog p` into gradients).

/// AgentArk's temperature of the soft minimum over steps.
pub const SOFT_MIN_TEMPERATURE: f64 = 0.1;
/// TRL's clipping range ε of the probability ratio.
pub const CLIP_EPSILON: f64 = 0.2;
/// TRL's epsilon added to the group's standard deviation.
const STD_EPSILON: f64 = 1e-4;

/// A step's reward from the PRM: `P(correct) − P(incorrect) = 2p − 1`.
pub fn step_reward(p_correct: f64) -> f64 {
    2.0 * p_correct - 1.0
}

/// AgentArk's sequence reward: `Σ_j softmax(−r/τ)_j · r_j`, a soft minimum that weighs the
/// worst steps most; 0 for no step.
pub fn soft_min_reward(step_rewards: &[f64], temperature: f64) -> f64 {
    if step_rewards.is_empty() {
        return 0.0;
    }
    let scaled: Vec<f64> = step_rewards.iter().map(|r| -r / temperature).collect();
    let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = scaled.iter().map(|s| (s - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    weights
        .iter()
        .zip(step_rewards)
        .map(|(w, r)| w / total * r)
        .sum()
}

/// AgentArk's verifiable reward: +1 for a right answer, −1 otherwise, times its coefficient.
pub fn verifiable_reward(correct: bool, coefficient: f64) -> f64 {
    if correct {
        coefficient
    } else {
        -coefficient
    }
}

/// How a group's rewards become advantages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advantage {
    /// Leave-one-out: `r_i − mean_{j≠i} r_j`.
    Rloo,
    /// GRPO's group z-score: `(r_i − mean) / (std + 1e-4)`, `std` with Bessel's correction
    /// (TRL's `scale_rewards="group"`).
    Grpo,
}

/// The advantages of one group's rewards (at least two).
pub fn advantages(rewards: &[f64], kind: Advantage) -> Vec<f64> {
    let n = rewards.len() as f64;
    let sum: f64 = rewards.iter().sum();
    let mean = sum / n;
    match kind {
        Advantage::Rloo => rewards.iter().map(|r| r - (sum - r) / (n - 1.0)).collect(),
        Advantage::Grpo => {
            let var = rewards.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
            let std = var.sqrt();
            rewards
                .iter()
                .map(|r| (r - mean) / (std + STD_EPSILON))
                .collect()
        }
    }
}

/// The k3 estimator of KL(π‖π_ref) at a token: `exp(ρ − l) − (ρ − l) − 1` for the policy's
/// log-probability `l` and the reference's `ρ` (non-negative, unbiased).
pub fn kl_k3(logp: f64, ref_logp: f64) -> f64 {
    let d = ref_logp - logp;
    d.exp() - d - 1.0
}

/// One token's loss and `dloss/dlogp`: `−min(r·A, clip(r, 1±ε)·A) + β·k3`, with
/// `r = exp(logp − old_logp)` (TRL's GRPO loss before averaging).
pub fn token_loss(
    logp: f64,
    old_logp: f64,
    ref_logp: f64,
    advantage: f64,
    beta: f64,
) -> (f64, f64) {
    let ratio = (logp - old_logp).exp();
    let clipped = ratio.clamp(1.0 - CLIP_EPSILON, 1.0 + CLIP_EPSILON);
    let (unclipped_term, clipped_term) = (ratio * advantage, clipped * advantage);
    let (surrogate, d_surrogate) = if unclipped_term <= clipped_term {
        (unclipped_term, ratio * advantage)
    } else if clipped == ratio {
        (clipped_term, ratio * advantage)
    } else {
        (clipped_term, 0.0)
    };
    let d = ref_logp - logp;
    let kl = d.exp() - d - 1.0;
    let d_kl = 1.0 - d.exp();
    (-surrogate + beta * kl, -d_surrogate + beta * d_kl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }

    /// Steps r = (0.8, −0.2): weights softmax(−8, 2) = (e^−10/(1+e^−10), 1/(1+e^−10)) =
    /// (4.5398e−5, 0.9999546); reward = 0.8·4.5398e−5 − 0.2·0.9999546 = −0.1999546.
    #[test]
    fn soft_min_reward_weighs_the_worst_step() {
        close(soft_min_reward(&[0.8, -0.2], 0.1), -0.199_954_6);
        close(soft_min_reward(&[0.5, 0.5], 0.1), 0.5);
        close(soft_min_reward(&[], 0.1), 0.0);
        close(step_reward(0.75), 0.5);
        close(verifiable_reward(false, 1.0), -1.0);
    }

    /// Rewards (1, 0, 0, 3): RLOO 1 − 1 = 0, 0 − 4/3, 0 − 4/3, 3 − 1/3 = 8/3; mean 1, sample
    /// std √(6/3) = √2, so GRPO 0, −1/(√2 + 1e−4) = −0.707057, −0.707057, 2/(√2 + 1e−4).
    #[test]
    fn rloo_and_grpo_advantages_match_the_hand_computation() {
        let r = [1.0, 0.0, 0.0, 3.0];
        let rloo = advantages(&r, Advantage::Rloo);
        for (a, b) in rloo.iter().zip([0.0, -4.0 / 3.0, -4.0 / 3.0, 8.0 / 3.0]) {
            close(*a, b);
        }
        let s = 2f64.sqrt();
        let grpo = advantages(&r, Advantage::Grpo);
        for (a, b) in grpo.iter().zip([0.0, -1.0, -1.0, 2.0]) {
            close(*a, b / (s + 1e-4));
        }
        assert!((grpo[1] + 0.707_057).abs() < 1e-6, "{}", grpo[1]);
        // A group whose rewards are all equal has no advantage either way.
        assert!(advantages(&[0.3; 4], Advantage::Grpo)
            .iter()
            .all(|a| a.abs() < 1e-12));
    }

    /// logp −1, ref −1.5: d = −0.5, k3 = e^−0.5 + 0.5 − 1 = 0.1065307.
    #[test]
    fn kl_k3_matches_the_hand_computation() {
        close(kl_k3(-1.0, -1.5), 0.106_530_7);
        close(kl_k3(-2.0, -2.0), 0.0);
    }

    /// At the sampling policy (r = 1) the loss is −A plus the KL term, its derivative −A +
    /// β(1 − e^d); above 1 + ε with A > 0 the clipped branch is the minimum and the surrogate's
    /// derivative vanishes; with A < 0 the unclipped branch stays active.
    #[test]
    fn the_clipped_objective_and_its_derivative() {
        let (loss, d) = token_loss(-1.0, -1.0, -1.5, 2.0, 0.1);
        close(loss, -2.0 + 0.1 * 0.106_530_7);
        close(d, -2.0 + 0.1 * (1.0 - (-0.5f64).exp()));
        let (loss, d) = token_loss(-1.0, -1.5, -1.0, 2.0, 0.0);
        close(loss, -1.2 * 2.0);
        close(d, 0.0);
        let r = 0.5f64.exp();
        let (loss, d) = token_loss(-1.0, -1.5, -1.0, -2.0, 0.0);
        close(loss, r * 2.0);
        close(d, r * 2.0);
        // Finite differences of the loss agree with the derivative away from the kinks.
        for (lp, old, rf, a, b) in [
            (-1.0, -1.05, -1.3, 0.7, 0.05),
            (-2.0, -1.9, -2.5, -0.4, 0.2),
        ] {
            let h = 1e-6;
            let numeric = (token_loss(lp + h, old, rf, a, b).0
                - token_loss(lp - h, old, rf, a, b).0)
                / (2.0 * h);
            let analytic = token_loss(lp, old, rf, a, b).1;
            assert!((numeric - analytic).abs() < 1e-6, "{numeric} vs {analytic}");
        }
    }
}
