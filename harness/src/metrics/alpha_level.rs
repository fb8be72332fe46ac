//! The levels of measurement Krippendorff's alpha is computed at.

/// The level of measurement, which fixes the distance δ between two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Categories: δ² is 0 for equal values and 1 otherwise.
    Nominal,
    /// Ranks: δ² grows with how many pairable values lie between the two.
    Ordinal,
    /// Differences: δ² = (c − k)².
    Interval,
    /// Ratios from a true zero: δ² = ((c − k)/(c + k))²; values must be non-negative.
    Ratio,
}

impl Level {
    /// The level named `s` (case-insensitive, surrounding spaces ignored).
    pub fn parse(s: &str) -> crate::error::Result<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "nominal" => Ok(Level::Nominal),
            "ordinal" => Ok(Level::Ordinal),
            "interval" => Ok(Level::Interval),
            "ratio" => Ok(Level::Ratio),
            _ => Err(crate::error::Error::Unknown {
                kind: "alpha level",
                name: s.to_string(),
                valid: "nominal, ordinal, interval, ratio".to_string(),
            }),
        }
    }

    /// The level's lowercase name, as [`Level::parse`] accepts it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Nominal => "nominal",
            Level::Ordinal => "ordinal",
            Level::Interval => "interval",
            Level::Ratio => "ratio",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names_round_trip() {
        for level in [
            Level::Nominal,
            Level::Ordinal,
            Level::Interval,
            Level::Ratio,
        ] {
            assert_eq!(Level::parse(level.name()).ok(), Some(level));
        }
        assert_eq!(Level::parse(" Interval ").ok(), Some(Level::Interval));
        match Level::parse("cardinal") {
            Err(crate::error::Error::Unknown { kind, name, valid }) => {
                assert_eq!((kind, name.as_str()), ("alpha level", "cardinal"));
                assert_eq!(valid, "nominal, ordinal, interval, ratio");
            }
            other => panic!("expected Unknown, got {other:?}"),
        }
    }
}
