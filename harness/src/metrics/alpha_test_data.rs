//! Reliability data the alpha tests share: Krippendorff's published examples and seeded random
//! matrices.

/// Krippendorff (2011), 4 coders × 12 units: nominal 0.743, ordinal 0.815, interval 0.849,
/// ratio 0.797.
pub(super) const KRIPPENDORFF_2011: [&str; 4] = [
    "1 2 3 3 2 1 4 1 2 . . .",
    "1 2 3 3 2 2 4 1 2 5 . 3",
    ". 3 3 3 2 3 4 2 2 5 1 .",
    "1 2 3 3 2 4 4 1 2 5 1 .",
];

/// 3 coders × 15 units: nominal 0.691358, interval 0.810845.
pub(super) const THREE_CODERS: [&str; 3] = [
    ". . . . . 3 4 1 2 1 1 3 3 . 3",
    "1 . 2 1 3 3 4 3 . . . . . . .",
    ". . 2 1 3 4 4 . 2 1 1 3 3 . 4",
];

/// Parses rows of coders (`.` = missing) into the dense coders × units layout.
pub(super) fn dense(rows: &[&str]) -> (Vec<f64>, usize) {
    let values = rows
        .iter()
        .flat_map(|row| row.split_whitespace())
        .map(|cell| cell.parse().unwrap_or(f64::NAN))
        .collect();
    (values, rows.len())
}

/// `cells` values from a seeded linear congruential generator: each cell is `value` of a
/// 31-bit draw (NaN = missing).
pub(super) fn random_cells(cells: usize, seed: u64, value: impl Fn(u64) -> f64) -> Vec<f64> {
    let mut state = seed;
    (0..cells)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            value(state >> 33)
        })
        .collect()
}
