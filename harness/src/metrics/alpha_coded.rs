//! Nominal, ordinal and ratio alpha (and interval alpha, as a cross-check) from per-unit code
//! tables: the frequency of each distinct value fixes the expected disagreement, and each
//! unit's (code, count) runs its observed disagreement.

use super::alpha_coding::{CodedUnit, CodedUnits};
use super::alpha_disagreement::{finish, Undefined};
use super::alpha_level::Level;

/// Up to this many distinct values, ordinal and interval data collect a value × value
/// coincidence matrix (at most 32 KiB) instead of reading every unit twice.
const COINCIDENCE_MATRIX_MAX_VALUES: usize = 64;

/// Alpha at `level` over a multiset of coded units, from the frequencies of the distinct
/// values: O(units) plus O(distinct²) for ratio data.
///
/// `weights[u]` is how many times unit `u` is in the multiset (None: every unit once); units
/// are visited in order, so a resample reads memory sequentially. `unit_observed` may give each
/// unit's D_u for nominal or ratio data (see [`fixed_unit_disagreements`]), which a bootstrap
/// computes once instead of per resample.
pub(super) fn coded_alpha(
    coded: &CodedUnits,
    level: Level,
    weights: Option<&[u32]>,
    unit_observed: Option<&[f64]>,
) -> Result<f64, Undefined> {
    let weight_of = |index: usize| match weights {
        Some(weights) => f64::from(weights.get(index).copied().unwrap_or(0)),
        None => 1.0,
    };
    // Nominal and ratio distances do not depend on the frequencies, so their observed
    // disagreement is summed in the same pass. Ordinal and interval positions do: with few
    // distinct values the pass collects the coincidence matrix and weighs it by distance at
    // the end; with many, a second pass over the units follows.
    let fixed_positions = fixed_positions(coded, level);
    let value_count = coded.distinct.len();
    let mut coincidences = match fixed_positions {
        None if value_count <= COINCIDENCE_MATRIX_MAX_VALUES => {
            vec![0.0; value_count * value_count]
        }
        _ => Vec::new(),
    };
    let mut frequencies = vec![0.0f64; value_count];
    let (mut pairable_values, mut observed) = (0.0, 0.0);
    for (index, unit) in coded.units().enumerate() {
        let weight = weight_of(index);
        if weight == 0.0 || unit.size < 2 {
            continue;
        }
        for (&code, &count) in unit.codes.iter().zip(unit.counts) {
            frequencies[code as usize] += weight * f64::from(count);
        }
        pairable_values += weight * f64::from(unit.size);
        let fixed_observed = unit_observed.and_then(|observed| observed.get(index));
        match (fixed_observed, &fixed_positions) {
            (Some(&unit_observed), Some(_)) => observed += weight * unit_observed,
            (None, Some(positions)) => {
                observed += weight * unit_disagreement(level, positions, &unit)
            }
            (_, None) if !coincidences.is_empty() => {
                let scale = 2.0 * weight / (f64::from(unit.size) - 1.0);
                for (i, (&first, &first_count)) in unit.codes.iter().zip(unit.counts).enumerate() {
                    let row = first as usize * value_count;
                    for (&second, &second_count) in
                        unit.codes[i + 1..].iter().zip(&unit.counts[i + 1..])
                    {
                        coincidences[row + second as usize] +=
                            scale * f64::from(first_count) * f64::from(second_count);
                    }
                }
            }
            _ => {}
        }
    }
    if pairable_values == 0.0 {
        return Err(Undefined::NoPairableUnit);
    }
    let occurring: Vec<usize> = (0..frequencies.len())
        .filter(|&g| frequencies[g] > 0.0)
        .collect();
    if occurring.len() < 2 {
        return Err(Undefined::SingleValue);
    }
    if level == Level::Ratio && occurring.first().is_some_and(|&g| coded.distinct[g] < 0.0) {
        return Err(Undefined::NegativeRatioValue);
    }
    let positions = match fixed_positions {
        Some(positions) => positions,
        None => {
            let positions = positions(coded, level, &frequencies, pairable_values);
            if coincidences.is_empty() {
                for (index, unit) in coded.units().enumerate() {
                    let weight = weight_of(index);
                    if weight != 0.0 && unit.size >= 2 {
                        observed += weight * unit_disagreement(level, &positions, &unit);
                    }
                }
            } else {
                for (g, row) in coincidences.chunks_exact(value_count).enumerate() {
                    for (h, &coincidence) in row.iter().enumerate().skip(g + 1) {
                        if coincidence != 0.0 {
                            observed += coincidence * distance(level, &positions, g, h);
                        }
                    }
                }
            }
            positions
        }
    };
    let expected =
        expected_disagreement(level, &positions, &frequencies, &occurring, pairable_values);
    finish(pairable_values, observed, expected)
}

/// Positions of the codes when they do not depend on the frequencies (nominal, ratio).
fn fixed_positions(coded: &CodedUnits, level: Level) -> Option<Vec<f64>> {
    match level {
        Level::Nominal | Level::Ratio => Some(positions(coded, level, &[], 0.0)),
        Level::Ordinal | Level::Interval => None,
    }
}

/// Every unit's D_u (0 for units with fewer than 2 values) when it does not depend on the
/// frequencies, i.e. for nominal and ratio data; None for the other levels.
pub(super) fn fixed_unit_disagreements(coded: &CodedUnits, level: Level) -> Option<Vec<f64>> {
    let positions = fixed_positions(coded, level)?;
    let observed = coded
        .units()
        .map(|unit| {
            if unit.size >= 2 {
                unit_disagreement(level, &positions, &unit)
            } else {
                0.0
            }
        })
        .collect();
    Some(observed)
}

/// D_u: the sum of δ² over one pairable unit's ordered pairs of values, divided by (m_u − 1).
#[inline]
fn unit_disagreement(level: Level, positions: &[f64], unit: &CodedUnit<'_>) -> f64 {
    let size = f64::from(unit.size);
    let (codes, counts) = (unit.codes, unit.counts);
    let pairs = if level == Level::Nominal {
        // Ordered pairs of unequal values: m² minus the pairs within each value.
        size * size
            - counts
                .iter()
                .map(|&c| f64::from(c) * f64::from(c))
                .sum::<f64>()
    } else {
        let mut total = 0.0;
        for i in 0..codes.len() {
            for j in i + 1..codes.len() {
                let weight = 2.0 * f64::from(counts[i]) * f64::from(counts[j]);
                total += weight * distance(level, positions, codes[i] as usize, codes[j] as usize);
            }
        }
        total
    };
    pairs / (size - 1.0)
}

/// δ² between codes `a` and `b` placed at `positions` (see [`positions`]).
fn distance(level: Level, positions: &[f64], a: usize, b: usize) -> f64 {
    match level {
        Level::Nominal => f64::from(u8::from(a != b)),
        Level::Ordinal | Level::Interval => (positions[a] - positions[b]).powi(2),
        Level::Ratio => ratio_distance(positions[a], positions[b]),
    }
}

/// E: the sum of δ² over all ordered pairs of pairable values, from the value frequencies.
fn expected_disagreement(
    level: Level,
    positions: &[f64],
    frequencies: &[f64],
    occurring: &[usize],
    pairable_values: f64,
) -> f64 {
    match level {
        Level::Nominal => {
            pairable_values * pairable_values - frequencies.iter().map(|f| f * f).sum::<f64>()
        }
        // Positions are centred on their weighted mean, so Σ f·x is ~0 and nothing cancels.
        Level::Ordinal | Level::Interval => {
            let (mut first, mut second) = (0.0, 0.0);
            for &g in occurring {
                first += frequencies[g] * positions[g];
                second += frequencies[g] * positions[g] * positions[g];
            }
            2.0 * pairable_values * second - 2.0 * first * first
        }
        Level::Ratio => {
            let mut total = 0.0;
            for (i, &g) in occurring.iter().enumerate() {
                for &h in &occurring[i + 1..] {
                    total +=
                        2.0 * frequencies[g] * frequencies[h] * distance(level, positions, g, h);
                }
            }
            total
        }
    }
}

/// Where each code sits for the level's distance: ordinal codes at their centred mid-rank
/// Σ_{h<g} n_h + n_g/2 − n/2 (so δ_ordinal(c, k) is a difference of positions), interval codes
/// at their value minus the mean, ratio codes at their raw value; nominal needs none.
fn positions(
    coded: &CodedUnits,
    level: Level,
    frequencies: &[f64],
    pairable_values: f64,
) -> Vec<f64> {
    match level {
        Level::Nominal => Vec::new(),
        Level::Ratio => coded.distinct.clone(),
        Level::Ordinal => {
            let mut below = 0.0;
            let mut positions = Vec::with_capacity(frequencies.len());
            for &frequency in frequencies {
                positions.push(below + frequency / 2.0 - pairable_values / 2.0);
                below += frequency;
            }
            positions
        }
        Level::Interval => {
            let total: f64 = frequencies
                .iter()
                .zip(&coded.distinct)
                .map(|(f, v)| f * v)
                .sum();
            let mean = total / pairable_values;
            coded.distinct.iter().map(|value| value - mean).collect()
        }
    }
}

/// ((c − k)/(c + k))², with δ(0, 0) = 0.
fn ratio_distance(c: f64, k: f64) -> f64 {
    if c + k == 0.0 {
        0.0
    } else {
        ((c - k) / (c + k)).powi(2)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::super::alpha::ReliabilityData;
    use super::super::alpha_level::Level;

    /// Alpha straight from Krippendorff's definition: every ordered pair of values, O(n²).
    fn reference_alpha(units: &[Vec<f64>], level: Level) -> f64 {
        let pairable: Vec<&Vec<f64>> = units.iter().filter(|unit| unit.len() >= 2).collect();
        let all: Vec<f64> = pairable
            .iter()
            .flat_map(|unit| unit.iter().copied())
            .collect();
        // Values here are multiples of 0.5, so twice the value is an exact integer key.
        let key = |value: f64| (value * 2.0) as i64;
        let mut frequencies: BTreeMap<i64, f64> = BTreeMap::new();
        for &value in &all {
            *frequencies.entry(key(value)).or_default() += 1.0;
        }
        let frequency = |value: f64| frequencies.get(&key(value)).copied().unwrap_or(0.0);
        let delta = |c: f64, k: f64| match level {
            Level::Nominal => f64::from(u8::from(c != k)),
            Level::Interval => (c - k).powi(2),
            Level::Ratio if c + k == 0.0 => 0.0,
            Level::Ratio => ((c - k) / (c + k)).powi(2),
            Level::Ordinal => {
                let between = frequencies.range(key(c.min(k))..=key(c.max(k)));
                let total: f64 = between.map(|(_, count)| count).sum();
                (total - (frequency(c) + frequency(k)) / 2.0).powi(2)
            }
        };
        let mut observed = 0.0;
        for unit in &pairable {
            let mut sum = 0.0;
            for (i, &c) in unit.iter().enumerate() {
                for (j, &k) in unit.iter().enumerate() {
                    if i != j {
                        sum += delta(c, k);
                    }
                }
            }
            observed += sum / (unit.len() as f64 - 1.0);
        }
        let mut expected = 0.0;
        for (i, &c) in all.iter().enumerate() {
            for (j, &k) in all.iter().enumerate() {
                if i != j {
                    expected += delta(c, k);
                }
            }
        }
        1.0 - (all.len() as f64 - 1.0) * observed / expected
    }

    /// 150 units of 0–4 values each, drawn from `distinct` values (multiples of 0.5).
    fn random_units(distinct: u32, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..150)
            .map(|_| {
                let size = rng.random_range(0..=4);
                // Units agree more than chance: values cluster around a per-unit centre.
                let centre = rng.random_range(0..distinct);
                (0..size)
                    .map(|_| f64::from((centre + rng.random_range(0..3)).min(distinct - 1)) * 0.5)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn closed_forms_match_the_definition() {
        // 5 distinct values use the coincidence matrix; 400 the second pass over units.
        for (distinct, seed) in [(5, 1), (400, 2), (3, 3)] {
            let units = random_units(distinct, seed);
            let data = ReliabilityData::from_units(units.clone(), 4);
            let uses_matrix = data.coded().distinct.len() <= super::COINCIDENCE_MATRIX_MAX_VALUES;
            assert_eq!(uses_matrix, distinct != 400, "{distinct} values");
            for level in [
                Level::Nominal,
                Level::Ordinal,
                Level::Interval,
                Level::Ratio,
            ] {
                let expected = reference_alpha(&units, level);
                match data.alpha(level) {
                    Ok(alpha) => assert!(
                        (alpha - expected).abs() < 1e-10,
                        "{distinct} values, {level:?}: {alpha} vs {expected}"
                    ),
                    Err(error) => panic!("{distinct} values, {level:?}: {error}"),
                }
            }
        }
    }
}
