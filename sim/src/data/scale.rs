//! [`Scale`]: how much data a simulator seeds (`--scale`).

use std::fmt;
use std::str::FromStr;

/// How many rows to generate. Seeding is linear in the row count, and
/// memory is proportional to it (about 1 KB a row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scale {
    /// About 3,000 rows: 50 customers a company, quick to start.
    #[default]
    Small,
    /// About 100,000 rows.
    Medium,
    /// About 1,000,000 rows.
    Large,
    /// About this many rows in total (at least the small set's fixed rows).
    Rows(u64),
}

/// Rows generated per company and per unit of scale: 10 customers,
/// 6 vendors, 10 products, 15 orders with about 60 lines.
pub(crate) const ROWS_PER_UNIT: u64 = 101;

impl Scale {
    /// The approximate number of rows asked for.
    pub fn target_rows(self) -> u64 {
        match self {
            Self::Small => 2_500,
            Self::Medium => 100_000,
            Self::Large => 1_000_000,
            Self::Rows(n) => n,
        }
    }

    /// The per-company unit the generator multiplies its counts by.
    pub(crate) fn unit(self, companies: usize) -> usize {
        if self == Self::Small {
            return 5;
        }
        let per_unit = ROWS_PER_UNIT * companies.max(1) as u64;
        self.target_rows().div_ceil(per_unit).max(1) as usize
    }
}

impl FromStr for Scale {
    type Err = String;

    /// `small`, `medium`, `large`, or a row count such as `250000`,
    /// `250_000`, `250k` or `1m`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase().replace('_', "");
        match t.as_str() {
            "small" => return Ok(Self::Small),
            "medium" => return Ok(Self::Medium),
            "large" => return Ok(Self::Large),
            _ => {}
        }
        let (digits, factor) = match t.as_bytes().last() {
            Some(b'k') => (&t[..t.len() - 1], 1_000),
            Some(b'm') => (&t[..t.len() - 1], 1_000_000),
            _ => (t.as_str(), 1),
        };
        digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(factor))
            .filter(|n| (1..=50_000_000).contains(n))
            .map(Self::Rows)
            .ok_or_else(|| {
                format!(
                    "invalid scale '{s}': use small, medium, large or a row count from 1 to 50m (e.g. 250k)"
                )
            })
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Small => f.write_str("small"),
            Self::Medium => f.write_str("medium"),
            Self::Large => f.write_str("large"),
            Self::Rows(n) => write!(f, "{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_counts() {
        assert_eq!("Small".parse(), Ok(Scale::Small));
        assert_eq!("large".parse(), Ok(Scale::Large));
        assert_eq!("250k".parse(), Ok(Scale::Rows(250_000)));
        assert_eq!("1_000_000".parse(), Ok(Scale::Rows(1_000_000)));
        assert_eq!("2M".parse(), Ok(Scale::Rows(2_000_000)));
        for bad in ["", "0", "huge", "-5", "k", "99999999999999999999", "60m"] {
            assert!(bad.parse::<Scale>().is_err(), "{bad}");
        }
        assert_eq!(Scale::Small.unit(5), 5);
        assert_eq!(Scale::Large.unit(5), 1981);
    }
}
