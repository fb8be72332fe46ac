//! What Krippendorff's alpha is made of and when it has no value.
//!
//! With n pairable values, alpha = 1 − (n − 1)·Σ_u D_u / E, where D_u is the sum of δ² over the
//! ordered pairs of unit u's values divided by (m_u − 1), and E the sum of δ² over the ordered
//! pairs of all pairable values (Krippendorff 2011, "Computing Krippendorff's alpha-reliability").
//! The closed forms live in `alpha_interval` (pooled moments) and `alpha_coded` (per-unit code
//! tables for nominal, ordinal and ratio data).

/// The metric name alpha's errors carry.
const METRIC: &str = "krippendorff_alpha";

/// Why alpha has no value on some data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Undefined {
    /// No unit has two or more values.
    NoPairableUnit,
    /// All pairable values are equal, so the expected disagreement is 0.
    SingleValue,
    /// Ratio distances were asked of a negative value.
    NegativeRatioValue,
    /// An infinite value made an interval or ratio distance meaningless.
    NonFinite,
    /// A unit index beyond the data (only from resampling).
    UnitOutOfRange,
}

impl Undefined {
    /// The harness error describing this case.
    pub(super) fn into_error(self) -> crate::error::Error {
        let reason = match self {
            Undefined::NoPairableUnit => {
                "no unit has values from at least 2 coders, so there is nothing to compare"
            }
            Undefined::SingleValue => {
                "only one distinct value occurs among the pairable values, so the expected \
                 disagreement is 0"
            }
            Undefined::NegativeRatioValue => "ratio alpha needs non-negative values",
            Undefined::NonFinite => "interval and ratio alpha need finite values",
            Undefined::UnitOutOfRange => "a unit index is beyond the data",
        };
        crate::error::Error::Undefined {
            metric: METRIC.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// alpha = 1 − (n − 1)·observed / expected, or why it has no value.
pub(super) fn finish(pairable_values: f64, observed: f64, expected: f64) -> Result<f64, Undefined> {
    if expected.is_nan() {
        return Err(Undefined::NonFinite);
    }
    if expected <= 0.0 {
        return Err(Undefined::SingleValue);
    }
    let alpha = 1.0 - (pairable_values - 1.0) * observed / expected;
    if alpha.is_finite() {
        Ok(alpha)
    } else {
        Err(Undefined::NonFinite)
    }
}

/// Checks the pairable values' range before finishing: equal extremes mean a single value
/// (rounding could otherwise leave a spurious tiny expected disagreement).
pub(super) fn finish_interval(
    pairable_values: f64,
    observed: f64,
    expected: f64,
    min: f64,
    max: f64,
) -> Result<f64, Undefined> {
    if pairable_values == 0.0 {
        Err(Undefined::NoPairableUnit)
    } else if !(min.is_finite() && max.is_finite()) {
        Err(Undefined::NonFinite)
    } else if min == max {
        Err(Undefined::SingleValue)
    } else {
        finish(pairable_values, observed, expected)
    }
}
