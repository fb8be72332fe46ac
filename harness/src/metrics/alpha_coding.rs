//! Integer codes for the distinct values of reliability data and, per unit, a sparse table of
//! how often each code occurs: the form nominal, ordinal and ratio alpha are computed from.

/// Integral data spanning at most this many consecutive integers is coded through a lookup
/// table instead of a sort: linear time for the common 1–5 or 0–100 rating scales.
const TABLE_CODING_MAX_SPAN: f64 = (1u64 << 20) as f64;

/// Reliability data recoded as per-unit (code, count) runs over the ascending distinct values.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CodedUnits {
    /// The distinct values, ascending; code `g` stands for `distinct[g]`.
    pub(super) distinct: Vec<f64>,
    /// `offsets[u]..offsets[u + 1]` are unit `u`'s entries in `codes` and `counts`.
    offsets: Vec<usize>,
    /// Codes present in each unit, ascending within the unit.
    codes: Vec<u32>,
    /// How many of the unit's values have the code at the same position.
    counts: Vec<u32>,
    /// Number of values in each unit.
    sizes: Vec<u32>,
}

/// One unit's values as ascending codes with their counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CodedUnit<'a> {
    /// The codes present, ascending.
    pub(super) codes: &'a [u32],
    /// How many values have the code at the same position.
    pub(super) counts: &'a [u32],
    /// Number of values in the unit (the sum of `counts`).
    pub(super) size: u32,
}

impl CodedUnits {
    /// Codes `values`, whose unit `u` is `values[unit_offsets[u]..unit_offsets[u + 1]]`.
    /// The values must not be NaN (missing values are removed before this point).
    pub(super) fn new(values: &[f64], unit_offsets: &[usize]) -> Self {
        let (distinct, value_codes) = code_values(values);
        let unit_count = unit_offsets.len().saturating_sub(1);
        let mut coded = Self {
            distinct,
            offsets: Vec::with_capacity(unit_count + 1),
            codes: Vec::new(),
            counts: Vec::new(),
            sizes: Vec::with_capacity(unit_count),
        };
        coded.offsets.push(0);
        let mut scratch: Vec<u32> = Vec::new();
        for bounds in unit_offsets.windows(2) {
            scratch.clear();
            scratch.extend_from_slice(&value_codes[bounds[0]..bounds[1]]);
            scratch.sort_unstable();
            for run in scratch.chunk_by(|a, b| a == b) {
                coded.codes.push(run[0]);
                // 2³² values in one unit would take 32 GiB, so counts and sizes fit in u32.
                coded.counts.push(run.len() as u32);
            }
            coded.offsets.push(coded.codes.len());
            coded.sizes.push(scratch.len() as u32);
        }
        coded
    }

    /// Number of units coded.
    pub(super) fn unit_count(&self) -> usize {
        self.sizes.len()
    }

    /// Every unit's codes, counts and size, in unit order.
    pub(super) fn units(&self) -> impl Iterator<Item = CodedUnit<'_>> + '_ {
        self.offsets
            .windows(2)
            .zip(&self.sizes)
            .map(|(bounds, &size)| CodedUnit {
                codes: &self.codes[bounds[0]..bounds[1]],
                counts: &self.counts[bounds[0]..bounds[1]],
                size,
            })
    }
}

/// The ascending distinct values and each value's code (its position among them).
fn code_values(values: &[f64]) -> (Vec<f64>, Vec<u32>) {
    // Adding 0.0 turns -0.0 into +0.0, so the two zeros (equal as numbers) share one code.
    let (mut min, mut max, mut integral) = (f64::INFINITY, f64::NEG_INFINITY, true);
    for &value in values {
        let value = value + 0.0;
        min = min.min(value);
        max = max.max(value);
        integral &= value.fract() == 0.0;
    }
    if values.is_empty() {
        (Vec::new(), Vec::new())
    } else if integral && max - min <= TABLE_CODING_MAX_SPAN {
        code_by_table(values, min, max)
    } else {
        code_by_sort(values)
    }
}

/// Codes integral values in `min..=max` through a table indexed by `value - min`.
fn code_by_table(values: &[f64], min: f64, max: f64) -> (Vec<f64>, Vec<u32>) {
    // The caller checked that the span is a small non-negative integer.
    let span = (max - min) as usize + 1;
    let mut present = vec![false; span];
    for &value in values {
        present[(value - min) as usize] = true;
    }
    let mut distinct = Vec::new();
    let mut code_of_offset = vec![0u32; span];
    for (offset, _) in present.iter().enumerate().filter(|(_, &present)| present) {
        // There are at most 2²⁰ + 1 distinct values here, so the code fits.
        code_of_offset[offset] = distinct.len() as u32;
        distinct.push(min + offset as f64);
    }
    let codes = values
        .iter()
        .map(|&value| code_of_offset[(value - min) as usize])
        .collect();
    (distinct, codes)
}

/// Codes arbitrary (non-NaN) values by sorting them with their positions, then numbering the
/// runs of equal values: O(n log n) with sequential memory access, unlike a hash map.
fn code_by_sort(values: &[f64]) -> (Vec<f64>, Vec<u32>) {
    let mut order: Vec<(u64, usize)> = values
        .iter()
        .enumerate()
        .map(|(position, &value)| (order_key(value + 0.0), position))
        .collect();
    order.sort_unstable();
    let mut distinct: Vec<f64> = Vec::new();
    let mut codes = vec![0u32; values.len()];
    let mut previous_key = None;
    for (key, position) in order {
        if previous_key != Some(key) {
            previous_key = Some(key);
            distinct.push(values[position] + 0.0);
        }
        // Codes index an in-memory vector of f64, so they stay far below 2³².
        codes[position] = (distinct.len() - 1) as u32;
    }
    (distinct, codes)
}

/// An unsigned key that sorts like the float (IEEE 754 total order): negative values have
/// all bits flipped, non-negative ones the sign bit set.
fn order_key(value: f64) -> u64 {
    let bits = value.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_values_are_coded_by_table() {
        let (distinct, codes) = code_values(&[5.0, 1.0, 3.0, 5.0, -0.0, 0.0]);
        assert_eq!(distinct, [0.0, 1.0, 3.0, 5.0]);
        assert_eq!(codes, [3, 1, 2, 3, 0, 0]);
    }

    #[test]
    fn other_values_are_coded_by_sort() {
        let (distinct, codes) = code_values(&[0.5, -2.25, 0.5, f64::INFINITY, -0.0, 0.0]);
        assert_eq!(distinct, [-2.25, 0.0, 0.5, f64::INFINITY]);
        assert_eq!(codes, [2, 0, 2, 3, 1, 1]);
        let (distinct, codes) = code_values(&[1e12, 0.0]);
        assert_eq!((distinct, codes), (vec![0.0, 1e12], vec![1, 0]));
        assert_eq!(code_values(&[]), (Vec::new(), Vec::new()));
    }

    #[test]
    fn units_become_sorted_runs() {
        let values = [2.0, 1.0, 2.0, 7.0, 1.0];
        let coded = CodedUnits::new(&values, &[0, 3, 3, 5]);
        let unit = |codes: &'static [u32], counts: &'static [u32], size| CodedUnit {
            codes,
            counts,
            size,
        };
        let units: Vec<CodedUnit<'_>> = coded.units().collect();
        assert_eq!(
            units,
            [
                unit(&[0, 1], &[1, 2], 3),
                unit(&[], &[], 0),
                unit(&[0, 2], &[1, 1], 2)
            ]
        );
        assert_eq!(coded.unit_count(), 3);
    }
}
