//! Times candle's quantized CPU matmul (`QMatMul::forward`) on the matrix shapes `r2l serve`
//! runs: the 1.5B-shaped Llama of bench.sh (hidden 2048, MLP 5632) and SmolLM2-135M (576,
//! 1536), one activation row (a decode step), 8 rows (8-way batch) and 256 rows (a prefill).
//! `candle_qmatmul.sh` builds this file against two candle-core versions and prints the ratios;
//! it is not part of the r2l workspace (the workspace keeps one candle version).
//!
//! Output: one tab-separated line per case: dtype, k, n, m, median milliseconds per forward,
//! and a checksum of the output so both builds can be seen to compute the same thing.
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Result, Tensor};
use std::time::Instant;

const SHAPES: [(usize, usize); 4] = [(2048, 2048), (2048, 5632), (5632, 2048), (576, 1536)];
const ROWS: [usize; 3] = [1, 8, 256];

/// Deterministic pseudo-random values in [-scale, scale) (xorshift), the same in every build.
fn values(count: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn median_ms(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[samples.len() / 2]
}

fn time_case(dtype: GgmlDType, k: usize, n: usize, m: usize) -> Result<(f64, f32)> {
    let device = Device::Cpu;
    let weight = Tensor::from_vec(values(n * k, 1, 0.05), (n, k), &device)?;
    let matmul = QMatMul::from_qtensor(QTensor::quantize(&weight, dtype)?)?;
    let input = Tensor::from_vec(values(m * k, 2, 1.0), (m, k), &device)?;
    // Enough repetitions for ~0.3 s per case, at least 5; the first (warm-up) is not timed.
    let warm = Instant::now();
    let out = matmul.forward(&input)?;
    let once = warm.elapsed().as_secs_f64();
    let reps = ((0.3 / once.max(1e-6)) as usize).clamp(5, 2000);
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        let _ = matmul.forward(&input)?;
        samples.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let checksum = out.sum_all()?.to_scalar::<f32>()?;
    Ok((median_ms(samples), checksum))
}

fn main() -> Result<()> {
    for dtype in [GgmlDType::Q8_0, GgmlDType::Q4K] {
        for (k, n) in SHAPES {
            if dtype == GgmlDType::Q4K && k % 256 != 0 {
                continue; // K-quants need rows that are a multiple of 256 values
            }
            for m in ROWS {
                let (ms, checksum) = time_case(dtype, k, n, m)?;
                println!("{dtype:?}\t{k}\t{n}\t{m}\t{ms:.4}\t{checksum:.3}");
            }
        }
    }
    Ok(())
}
