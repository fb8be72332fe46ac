//! The patched candle-core (vendor/candle-core/R2L_PATCH.md): a matmul over several activation
//! rows (prefill, batched decode) runs the cache-tiled loop, one row the published loop; both
//! take weight rows four at a time. They must give bit-identical rows, and the product must be
//! the product.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};

/// A deterministic pseudo-random matrix with values in [-1, 1).
fn matrix(rows: usize, cols: usize, seed: u64) -> candle_core::Result<Tensor> {
    let mut state = seed;
    let values: Vec<f32> = (0..rows * cols)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_vec(values, (rows, cols), &Device::Cpu)
}

#[test]
fn batched_rows_equal_single_rows_bit_for_bit() -> candle_core::Result<()> {
    // SmolLM2's width (576 = 18 Q8_0 blocks); 1,001 outputs leave a column over after the
    // groups of four (Q8_0 has a four-row kernel) and a partial last tile.
    let (m, k, n) = (37, 576, 1_001);
    for dtype in [GgmlDType::Q8_0, GgmlDType::Q4_0] {
        let weights = matrix(n, k, 7)?;
        let layer = QMatMul::from_qtensor(QTensor::quantize(&weights, dtype)?)?;
        let input = matrix(m, k, 11)?;
        let batched = layer.forward(&input)?;
        assert_eq!(batched.dims(), &[m, n]);
        for row in 0..m {
            let single = layer.forward(&input.narrow(0, row, 1)?)?;
            let (got, want) = (
                batched.narrow(0, row, 1)?.flatten_all()?.to_vec1::<f32>()?,
                single.flatten_all()?.to_vec1::<f32>()?,
            );
            assert!(
                got == want,
                "{dtype:?}: row {row} differs between batch and single"
            );
        }
        // A layer of one weight row takes the plain one-row `vec_dot`: the four-row kernel
        // must give the same bits.
        for col in [0, 1, 2, 3, 501, 1_000] {
            // A fresh tensor: `QTensor::quantize` reads a narrowed view from its storage's start.
            let row = weights.narrow(0, col, 1)?.flatten_all()?.to_vec1::<f32>()?;
            let row = Tensor::from_vec(row, (1, k), &Device::Cpu)?;
            let alone = QTensor::quantize(&row, dtype)?;
            let alone = QMatMul::from_qtensor(alone)?.forward(&input)?;
            let (got, want) = (
                batched.narrow(1, col, 1)?.flatten_all()?.to_vec1::<f32>()?,
                alone.flatten_all()?.to_vec1::<f32>()?,
            );
            assert!(
                got == want,
                "{dtype:?}: column {col} differs from the one-row kernel"
            );
        }
        // Against the f32 product of the dequantized weights: only activation rounding differs.
        let exact = input.matmul(&layer_weights(&weights, dtype)?.t()?)?;
        let error = (batched - exact)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(error < 0.25, "{dtype:?}: max error {error}");
    }
    Ok(())
}

/// The weights as the quantized layer holds them, back in f32.
fn layer_weights(weights: &Tensor, dtype: GgmlDType) -> candle_core::Result<Tensor> {
    QTensor::quantize(weights, dtype)?.dequantize(&Device::Cpu)
}
