//! The SwiGLU gate of the MLP: `silu(gate) * up`, with gate and up side by side in one row
//! (`[rows, 2 * width]`, the output of the fused gate/up projection).

use candle_core::{Result, Tensor};
use rayon::prelude::*;

use super::math::sigmoid;
use super::tensor::{tensor, view, ROW_BLOCK};

/// `silu(gate) * up` for each row of `gate_up`, `[rows, width]`.
pub fn forward(gate_up: &Tensor) -> Result<Tensor> {
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
                    *o = g * sigmoid(g) * u;
                }
            }
        });
    drop(input);
    tensor(out, (rows, width))
}

/// The gradient with respect to `gate_up` given the output gradient `d_out`.
pub fn backward(gate_up: &Tensor, d_out: &Tensor) -> Result<Tensor> {
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
                    let s = sigmoid(g);
                    d_up[i] = d * g * s;
                    d_gate[i] = d * u * s * (1.0 + g * (1.0 - s));
                }
            }
        });
    drop((input, d_out));
    tensor(grad, (rows, double))
}
