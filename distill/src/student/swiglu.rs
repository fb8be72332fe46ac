//! The gate of the MLP: `act(gate) * up` (SwiGLU with SiLU; Gemma's GeGLU with GELU-tanh), with
//! gate and up side by side in one row (`[rows, 2 * width]`, the output of the fused gate/up
//! projection).

use candle_core::{Result, Tensor};
use rayon::prelude::*;

use super::config::Activation;
use super::math::sigmoid;
use super::tensor::{tensor, view, ROW_BLOCK};

/// `silu(gate) * up` for each row of `gate_up`, `[rows, width]`.
pub fn forward(gate_up: &Tensor, act: Activation) -> Result<Tensor> {
    let (rows, double) = gate_up.dims2()?;
    let width = double / 2;
    let input = view(gate_up)?;
    let mut out = vec![0f32; rows * width];
    out.par_chunks_mut(width * ROW_BLOCK)
        .zip(input.slice().par_chunks(double * ROW_BLOCK))
        .for_each(|(out, input)| {
            for (o, row) in out.chunks_mut(width).zip(input.chunks(double)) {
                let (gate, up) = row.split_at(width);
                for ((o, &g), &u) in o.iter_mut().zip(gate).zip(up) {
                    *o = activation(act, g).0 * u;
                }
            }
        });
    drop(input);
    tensor(out, (rows, width))
}

/// The gradient with respect to `gate_up` given the output gradient `d_out`.
pub fn backward(gate_up: &Tensor, d_out: &Tensor, act: Activation) -> Result<Tensor> {
    let (rows, double) = gate_up.dims2()?;
    let width = double / 2;
    let input = view(gate_up)?;
    let d_out = view(d_out)?;
    let mut grad = vec![0f32; rows * double];
    grad.par_chunks_mut(double * ROW_BLOCK)
        .zip(input.slice().par_chunks(double * ROW_BLOCK))
        .zip(d_out.slice().par_chunks(width * ROW_BLOCK))
        .for_each(|((grad, input), d_out)| {
            for ((grad, row), d) in grad
                .chunks_mut(double)
                .zip(input.chunks(double))
                .zip(d_out.chunks(width))
            {
                let (gate, up) = row.split_at(width);
                let (d_gate, d_up) = grad.split_at_mut(width);
                for i in 0..width {
                    let (g, u, d) = (gate[i], up[i], d[i]);
                    let (value, slope) = activation(act, g);
                    d_up[i] = d * value;
                    d_gate[i] = d * u * slope;
                }
            }
        });
    drop((input, d_out));
    tensor(grad, (rows, double))
}

/// `act(g)` and its derivative.
#[inline]
fn activation(act: Activation, g: f32) -> (f32, f32) {
    match act {
        Activation::Silu => {
            let s = sigmoid(g);
            (g * s, s * (1.0 + g * (1.0 - s)))
        }
        Activation::GeluTanh => {
            // 0.5 g (1 + tanh(√(2/π) (g + 0.044715 g³))), as PyTorch's `gelu(approximate="tanh")`.
            const C: f32 = 0.797_884_6;
            const A: f32 = 0.044_715;
            let t = (C * (g + A * g * g * g)).tanh();
            let value = 0.5 * g * (1.0 + t);
            let slope = 0.5 * (1.0 + t) + 0.5 * g * (1.0 - t * t) * C * (1.0 + 3.0 * A * g * g);
            (value, slope)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_activation_s_slope_matches_finite_differences() {
        for act in [Activation::Silu, Activation::GeluTanh] {
            for g in [-3.0f32, -0.7, 0.0, 0.4, 2.5] {
                let h = 1e-2;
                let numeric = (f64::from(activation(act, g + h).0)
                    - f64::from(activation(act, g - h).0))
                    / (2.0 * f64::from(h));
                let (_, slope) = activation(act, g);
                assert!((f64::from(slope) - numeric).abs() < 1e-3, "{act:?} at {g}");
            }
        }
        // PyTorch: gelu(1.0, approximate="tanh") = 0.8411920070648193.
        assert!((activation(Activation::GeluTanh, 1.0).0 - 0.841_192).abs() < 1e-6);
    }
}
