//! System query options of a request, and their binding to an entity set.

use percent_encoding::percent_decode_str;

use super::bind::{Predicate, bind};
use super::parse_filter;
use crate::SimError;
use crate::data::EntitySet;

/// The query options of one request, parsed but not yet bound.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// `$filter` text.
    pub filter: Option<String>,
    /// `$select` text.
    pub select: Option<String>,
    /// `$orderby` text.
    pub orderby: Option<String>,
    /// `$expand` text.
    pub expand: Option<String>,
    /// `$top`.
    pub top: Option<usize>,
    /// `$skip` (0 if absent).
    pub skip: usize,
    /// `$count=true`.
    pub count: bool,
    /// `cross-company=true`.
    pub cross_company: bool,
    /// Raw `name=value` pairs other than `$top` and `$skip`, as received, so
    /// a next link repeats them verbatim.
    pub passthrough: Vec<String>,
}

/// Most `$orderby` clauses a query may have: Web API OData's default
/// `MaxOrderByNodeCount`, which D365FO keeps. Each one is a comparison per
/// pair of rows sorted, so the cap also bounds the cost of a sort.
pub const MAX_ORDERBY_CLAUSES: usize = 5;

/// Query options bound to one entity set.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The `$filter`, if any.
    pub predicate: Option<Predicate>,
    /// Selected field indexes; `None` means all.
    pub select: Option<Vec<usize>>,
    /// `$orderby` keys: field index and descending flag.
    pub order: Vec<(usize, bool)>,
    /// `$expand` items, parsed but not yet bound to navigation properties.
    pub expand: Vec<super::expand::ExpandItem>,
}

fn decode(raw: &str) -> Result<String, SimError> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| SimError::InvalidQuery("The query string is not valid UTF-8.".to_owned()))
}

fn non_negative(name: &str, value: &str) -> Result<usize, SimError> {
    value.trim().parse::<usize>().map_err(|_| {
        SimError::InvalidQuery(format!(
            "Invalid value '{value}' for {name} query option found. The {name} query option requires a non-negative integer value."
        ))
    })
}

impl QueryOptions {
    /// Parses a raw (still percent-encoded) query string.
    pub fn parse(query: Option<&str>) -> Result<Self, SimError> {
        let mut opts = Self::default();
        let mut seen: Vec<String> = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(raw_name)?;
            let value = decode(raw_value)?;
            if name.starts_with('$') {
                if seen.contains(&name) {
                    return Err(SimError::InvalidQuery(format!(
                        "Query option '{name}' was specified more than once, but it must be specified at most once."
                    )));
                }
                seen.push(name.clone());
            }
            match name.as_str() {
                "$top" => opts.top = Some(non_negative("$top", &value)?),
                "$skip" => opts.skip = non_negative("$skip", &value)?,
                _ => opts.passthrough.push(pair.to_owned()),
            }
            match name.as_str() {
                "$filter" => opts.filter = Some(value),
                "$select" => opts.select = Some(value),
                "$orderby" => opts.orderby = Some(value),
                "$expand" => opts.expand = Some(value),
                "$count" => {
                    opts.count = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        other => {
                            return Err(SimError::InvalidQuery(format!(
                                "'{other}' is not a valid count option."
                            )));
                        }
                    }
                }
                n if n.eq_ignore_ascii_case("cross-company") => {
                    opts.cross_company = value.trim().eq_ignore_ascii_case("true");
                }
                _ => {}
            }
        }
        Ok(opts)
    }

    /// Binds the options to `set`.
    pub fn plan(&self, set: &EntitySet) -> Result<Plan, SimError> {
        let not_found = |name: &str| {
            SimError::InvalidQuery(format!(
                "Could not find a property named '{name}' on type '{}'.",
                set.type_name
            ))
        };
        let field = |name: &str| set.field_index(name).ok_or_else(|| not_found(name));

        let predicate = match self.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                let expr = parse_filter(text).map_err(SimError::InvalidQuery)?;
                Some(bind(&expr, set).map_err(SimError::InvalidQuery)?)
            }
        };

        let select = bind_select(set, self.select.as_deref())?;
        let mut order = Vec::new();
        if let Some(text) = self.orderby.as_deref().filter(|t| !t.trim().is_empty()) {
            let clauses = text.split(',').count();
            if clauses > MAX_ORDERBY_CLAUSES {
                return Err(SimError::InvalidQuery(format!(
                    "The number of clauses in $orderby query option exceeded the maximum number allowed. The maximum number of $orderby clauses allowed is {MAX_ORDERBY_CLAUSES}."
                )));
            }
            for item in text.split(',') {
                let words: Vec<&str> = item.split_whitespace().collect();
                let (name, desc) = match words.as_slice() {
                    [name] => (*name, false),
                    [name, "asc"] => (*name, false),
                    [name, "desc"] => (*name, true),
                    _ => {
                        return Err(SimError::InvalidQuery(format!(
                            "Syntax error at position 0 in '{text}'."
                        )));
                    }
                };
                let i = field(name)?;
                // A repeated key could never change the order; Web API
                // OData refuses it rather than sort on it twice.
                if order.iter().any(|&(j, _)| j == i) {
                    return Err(SimError::InvalidQuery(format!(
                        "Duplicate property named '{name}' is not supported in '$orderby'."
                    )));
                }
                order.push((i, desc));
            }
        }

        let expand = match self.expand.as_deref().map(str::trim) {
            None | Some("") => Vec::new(),
            Some(text) => super::expand::parse_expand(text)?,
        };

        Ok(Plan {
            predicate,
            select,
            order,
            expand,
        })
    }
}

/// Binds a `$select` list to `set`: field indexes in declaration order, or
/// `None` for all (absent, empty or `*`).
pub fn bind_select(set: &EntitySet, text: Option<&str>) -> Result<Option<Vec<usize>>, SimError> {
    let text = match text.map(str::trim) {
        None | Some("") => return Ok(None),
        Some(t) => t,
    };
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    if items.contains(&"*") {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items.into_iter().filter(|i| !i.is_empty()) {
        let i = set.field_index(item).ok_or_else(|| {
            SimError::InvalidQuery(format!(
                "Could not find a property named '{item}' on type '{}'.",
                set.type_name
            ))
        })?;
        if !out.contains(&i) {
            out.push(i);
        }
    }
    // Properties come out in declaration order, as OData writes them.
    out.sort_unstable();
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    #[test]
    fn parses_options_and_keeps_passthrough() {
        let q = QueryOptions::parse(Some(
            "$top=5&$skip=10&$filter=Name%20eq%20'a+b'&cross-company=TRUE&$count=true&foo",
        ))
        .unwrap();
        assert_eq!(q.top, Some(5));
        assert_eq!(q.skip, 10);
        assert_eq!(q.filter.as_deref(), Some("Name eq 'a b'"));
        assert!(q.cross_company && q.count);
        assert_eq!(
            q.passthrough,
            vec![
                "$filter=Name%20eq%20'a+b'",
                "cross-company=TRUE",
                "$count=true",
                "foo"
            ]
        );
    }

    #[test]
    fn rejects_bad_numbers_and_duplicates() {
        let e = QueryOptions::parse(Some("$top=-1")).unwrap_err();
        assert!(
            e.to_string()
                .contains("Invalid value '-1' for $top query option found.")
        );
        assert!(QueryOptions::parse(Some("$top=1&$top=2")).is_err());
        assert!(QueryOptions::parse(Some("$count=maybe")).is_err());
        assert!(QueryOptions::parse(Some("$filter=%FF")).is_err());
    }

    #[test]
    fn binds_select_and_orderby() {
        let d = Dataset::seeded(3);
        let set = d.get("CustomersV3").unwrap();
        let q = QueryOptions::parse(Some(
            "$select=CustomerAccount,%20CreditLimit&$orderby=CreditLimit desc,CustomerAccount",
        ))
        .unwrap();
        let plan = q.plan(set).unwrap();
        assert_eq!(plan.select.as_ref().map(Vec::len), Some(2));
        assert_eq!(plan.order.len(), 2);
        assert!(plan.order[0].1 && !plan.order[1].1);
        let bad = QueryOptions::parse(Some("$select=Nope")).unwrap();
        assert!(
            bad.plan(set)
                .unwrap_err()
                .to_string()
                .contains("Could not find a property named 'Nope'")
        );
        let bad = QueryOptions::parse(Some("$orderby=CreditLimit sideways")).unwrap();
        assert!(bad.plan(set).is_err());
    }

    #[test]
    fn caps_orderby_clauses_and_refuses_repeated_keys() {
        let d = Dataset::seeded(3);
        let set = d.get("CustomersV3").unwrap();
        let five = "dataAreaId,CustomerAccount,CreditLimit desc,CustomerGroupId,CustomerType";
        let plan = QueryOptions::parse(Some(&format!("$orderby={five}")))
            .unwrap()
            .plan(set)
            .unwrap();
        assert_eq!(plan.order.len(), 5);
        let six = QueryOptions::parse(Some(&format!("$orderby={five},CreatedDateTime")))
            .unwrap()
            .plan(set)
            .unwrap_err();
        assert_eq!(six.status(), axum::http::StatusCode::BAD_REQUEST);
        assert!(
            six.body()
                .contains("The maximum number of $orderby clauses allowed is 5."),
            "{}",
            six.body()
        );
        let many = vec!["CreditLimit"; 10_000].join(",");
        assert!(
            QueryOptions::parse(Some(&format!("$orderby={many}")))
                .unwrap()
                .plan(set)
                .is_err()
        );
        let twice = QueryOptions::parse(Some("$orderby=CreditLimit,CreditLimit desc"))
            .unwrap()
            .plan(set)
            .unwrap_err();
        assert!(
            twice
                .body()
                .contains("Duplicate property named 'CreditLimit' is not supported in '$orderby'."),
            "{}",
            twice.body()
        );
    }
}
