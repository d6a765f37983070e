//! Ranking names against a search query: exact beats prefix beats
//! substring beats all-words beats fuzzy, and a name beats a label at the
//! same tier (names are what the model passes on to other tools).
//!
//! Comparison ignores case and everything but letters and digits, so
//! `customers v3`, `Customers_V3` and `CustomersV3` are one name.

/// Score of an exact match.
const EXACT: u32 = 1000;
/// Base score of a prefix match, less the unmatched length.
const PREFIX: u32 = 900;
/// Base score of a substring match, less its position.
const SUBSTRING: u32 = 800;
/// Score when every query word occurs.
const ALL_WORDS: u32 = 700;
/// Top score of a fuzzy match (scaled by similarity).
const FUZZY: f64 = 600.0;
/// Least Jaro-Winkler similarity that counts as a fuzzy match.
const FUZZY_MIN: f64 = 0.85;
/// How much a label match trails a name match of the same tier.
const LABEL_PENALTY: u32 = 50;

/// A search query, prepared once for many comparisons.
#[derive(Debug, Clone)]
pub struct Query {
    compact: String,
    words: Vec<String>,
}

/// Lower-case letters and digits only.
pub fn compact(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

impl Query {
    /// Prepares `text`; an empty query matches everything equally.
    pub fn new(text: &str) -> Self {
        Self {
            compact: compact(text),
            words: text
                .split(|c: char| !c.is_alphanumeric())
                .map(compact)
                .filter(|w| !w.is_empty())
                .collect(),
        }
    }

    /// Whether the query is empty (list everything).
    pub fn is_empty(&self) -> bool {
        self.compact.is_empty()
    }

    /// How well `name` matches; 0 is no match. An empty query scores 1.
    pub fn score(&self, name: &str) -> u32 {
        if self.is_empty() {
            return 1;
        }
        let name = compact(name);
        if name.is_empty() {
            return 0;
        }
        let q = self.compact.as_str();
        let shorter = |n: usize| u32::try_from(n.min(99)).unwrap_or(99);
        if name == q {
            EXACT
        } else if name.starts_with(q) {
            PREFIX - shorter(name.len() - q.len())
        } else if let Some(at) = name.find(q) {
            SUBSTRING - shorter(at)
        } else if self.words.len() > 1 && self.words.iter().all(|w| name.contains(w.as_str())) {
            ALL_WORDS
        } else {
            let similarity = strsim::jaro_winkler(q, &name);
            if similarity >= FUZZY_MIN {
                // Truncation is intended: a score, not a measurement.
                (FUZZY * similarity) as u32
            } else {
                0
            }
        }
    }

    /// The score of a label text: as a name, a little lower.
    pub fn score_label(&self, label: &str) -> u32 {
        self.score(label).saturating_sub(LABEL_PENALTY)
    }

    /// The best score over `names`.
    pub fn best<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> u32 {
        names.into_iter().map(|n| self.score(n)).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_are_ordered() {
        let q = Query::new("customer");
        let exact = q.score("Customer");
        let prefix = q.score("CustomersV3");
        let substring = q.score("SalesCustomer");
        let fuzzy = q.score("Custmer");
        assert!(exact > prefix && prefix > substring && substring > fuzzy && fuzzy > 0);
        assert_eq!(q.score("Vendor"), 0);
        assert!(Query::new("customers v3").score("CustomersV3") == EXACT);
        let words = Query::new("order sales");
        assert_eq!(words.score("SalesOrderHeadersV2"), ALL_WORDS);
        assert!(q.score_label("Customer") < exact);
        assert_eq!(Query::new("  ").score("Anything"), 1);
        assert_eq!(q.best(["Vendor", "CustomersV3"]), prefix);
    }
}
