//! Checks of the vendored candle-core's quantized CPU kernels (see vendor/README.md): the tiled
//! multi-row matmul gives every row bit for bit what the one-row path gives it, and the AVX2
//! Q4_1 dot product agrees with candle's scalar reference.

use candle_core::quantized::k_quants::{matmul, BlockQ4_1, BlockQ8_0, BlockQ8_1, GgmlType};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn quantize<T: GgmlType>(values: &[f32]) -> Vec<T> {
    let mut blocks = vec![T::zeros(); values.len() / T::BLCK_SIZE];
    T::from_float(values, &mut blocks);
    blocks
}

/// `m` activation rows times `n` weight rows of width `k`, all rows at once and row by row.
fn all_rows_and_each_row<T: GgmlType>(m: usize, k: usize, n: usize) -> (Vec<f32>, Vec<f32>) {
    let lhs = random(m * k, 1);
    let weights: Vec<T> = quantize(&random(n * k, 2));
    let mut together = vec![0f32; m * n];
    matmul((m, k, n), &lhs, &weights, &mut together).unwrap_or_else(|e| panic!("{e}"));
    let mut alone = vec![0f32; m * n];
    for row in 0..m {
        matmul(
            (1, k, n),
            &lhs[row * k..(row + 1) * k],
            &weights,
            &mut alone[row * n..(row + 1) * n],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    (together, alone)
}

#[test]
fn tiled_rows_equal_single_rows_bit_for_bit() {
    // 130 weight rows: tiles of several sizes and a remainder that is not a multiple of four.
    let (together, alone) = all_rows_and_each_row::<BlockQ8_0>(7, 256, 130);
    assert_eq!(together, alone, "Q8_0");
    let (together, alone) = all_rows_and_each_row::<BlockQ4_1>(7, 256, 130);
    assert_eq!(together, alone, "Q4_1");
}

#[test]
fn q4_1_dot_product_agrees_with_the_scalar_reference() {
    for seed in 0..8 {
        let k = 512;
        let weights: Vec<BlockQ4_1> = quantize(&random(k, 10 + seed));
        let activations: Vec<BlockQ8_1> = quantize(&random(k, 20 + seed));
        let fast = BlockQ4_1::vec_dot(k, &weights, &activations);
        let reference = BlockQ4_1::vec_dot_unopt(k, &weights, &activations);
        assert!(
            (fast - reference).abs() <= 1e-4 * reference.abs().max(1.0),
            "seed {seed}: {fast} vs {reference}"
        );
    }
}

#[test]
fn q4_1_matmul_is_close_to_the_dequantized_product() {
    let (m, k, n) = (3, 256, 9);
    let lhs = random(m * k, 3);
    let weights_f32 = random(n * k, 4);
    let weights: Vec<BlockQ4_1> = quantize(&weights_f32);
    let mut dequantized = vec![0f32; n * k];
    BlockQ4_1::to_float(&weights, &mut dequantized);
    let mut out = vec![0f32; m * n];
    matmul((m, k, n), &lhs, &weights, &mut out).unwrap_or_else(|e| panic!("{e}"));
    for row in 0..m {
        for col in 0..n {
            let exact: f32 = (0..k)
                .map(|i| lhs[row * k + i] * dequantized[col * k + i])
                .sum();
            let got = out[row * n + col];
            // The activations are quantized to 8 bits: about 1 % of the row's scale.
            assert!(
                (got - exact).abs() < 0.1,
                "({row}, {col}): {got} vs {exact}"
            );
        }
    }
}
