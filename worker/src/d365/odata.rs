//! OData URL building: identifiers, key predicates and query options.
//!
//! Everything a caller supplies ends up either in the path (entity set, key
//! names and values) or in the query string (filter, select, orderby). Path
//! parts are validated or percent-encoded (by [`common::odata`], whose rules
//! the argument readers share) so nothing can change the request's shape;
//! query values are percent-encoded with everything outside RFC 3986's
//! unreserved set escaped, so `&`, `=`, `#` and `+` stay inside their option.

use percent_encoding::utf8_percent_encode;
use url::Url;

use common::odata::QUERY_VALUE;
// The rules for names, key predicates and `$expand` items are common's:
// the catalogue's argument readers check the same ones.
pub use common::odata::{ExpandItem, check_identifier, expand_text, key_predicate, quote};

/// Query options of a read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// `$filter`.
    pub filter: Option<String>,
    /// `$select`, already validated as identifiers.
    pub select: Vec<String>,
    /// `$expand`, names already validated as identifiers.
    pub expand: Vec<ExpandItem>,
    /// `$orderby`.
    pub orderby: Option<String>,
    /// `$top`.
    pub top: Option<usize>,
    /// `$skip`.
    pub skip: Option<usize>,
    /// `$count=true`.
    pub count: bool,
    /// `cross-company=true`.
    pub cross_company: bool,
}

impl QueryOptions {
    /// The query string, without the leading `?`; empty when no option is set.
    pub fn to_query_string(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut push = |name: &str, value: &str| {
            parts.push(format!(
                "{name}={}",
                utf8_percent_encode(value, QUERY_VALUE)
            ));
        };
        if let Some(filter) = self.filter.as_deref().filter(|f| !f.trim().is_empty()) {
            push("$filter", filter);
        }
        if !self.select.is_empty() {
            push("$select", &self.select.join(","));
        }
        if !self.expand.is_empty() {
            push("$expand", &expand_text(&self.expand));
        }
        if let Some(orderby) = self.orderby.as_deref().filter(|o| !o.trim().is_empty()) {
            push("$orderby", orderby);
        }
        if let Some(top) = self.top {
            push("$top", &top.to_string());
        }
        if let Some(skip) = self.skip.filter(|s| *s > 0) {
            push("$skip", &skip.to_string());
        }
        if self.count {
            push("$count", "true");
        }
        if self.cross_company {
            push("cross-company", "true");
        }
        parts.join("&")
    }
}

/// `{base}/data/{path}?{query}`.
pub fn data_url(base: &Url, path: &str, query: &QueryOptions) -> String {
    let mut url = format!("{}/data/{path}", base.as_str().trim_end_matches('/'));
    let qs = query.to_query_string();
    if !qs.is_empty() {
        url.push('?');
        url.push_str(&qs);
    }
    url
}

/// Longest URL sent to D365FO. Its web servers refuse longer ones (or cut
/// the connection), which would read as a retryable outage.
pub const MAX_URL_BYTES: usize = 64 * 1024;

/// Refuses a URL over [`MAX_URL_BYTES`], saying what to do instead.
pub fn check_url_length(url: &str) -> Result<(), String> {
    if url.len() <= MAX_URL_BYTES {
        return Ok(());
    }
    Err(format!(
        "the request's URL would be {} bytes, over the {MAX_URL_BYTES} D365FO accepts; \
         shorten the filter (split a long list of `or` terms into several calls)",
        url.len()
    ))
}

/// Whether `link` (a `@odata.nextLink` or a cursor's link) points into the
/// environment at `base`: same scheme, host and port, path under base's. A
/// link anywhere else is refused, so a bad upstream or a forged cursor can
/// never make the worker send its token to another host.
pub fn is_within(base: &Url, link: &str) -> bool {
    let Ok(link) = Url::parse(link) else {
        return false;
    };
    let base_path = base.path().trim_end_matches('/');
    link.scheme() == base.scheme()
        && link.host_str() == base.host_str()
        && link.port_or_known_default() == base.port_or_known_default()
        && link.username().is_empty()
        && link.password().is_none()
        && (link.path() == base_path || link.path().starts_with(&format!("{base_path}/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_too_long_for_d365fo_is_refused_with_its_length() {
        let base = Url::parse("https://h.example/").unwrap();
        let terms: Vec<String> = (0..10_000)
            .map(|i| format!("CustomerAccount eq 'US-{i:05}'"))
            .collect();
        let long = QueryOptions {
            filter: Some(terms.join(" or ")),
            ..QueryOptions::default()
        };
        let url = data_url(&base, "CustomersV3", &long);
        let reason = check_url_length(&url).unwrap_err();
        assert!(reason.contains(&url.len().to_string()), "{reason}");
        assert!(
            check_url_length(&data_url(&base, "CustomersV3", &QueryOptions::default())).is_ok()
        );
        assert!(check_url_length(&"x".repeat(MAX_URL_BYTES)).is_ok());
    }

    #[test]
    fn query_strings_are_encoded() {
        let q = QueryOptions {
            filter: Some("Name eq 'A&B' and X eq '1+1=2#'".into()),
            select: vec!["A".into(), "B".into()],
            expand: vec![
                ExpandItem {
                    name: "Lines".into(),
                    select: vec!["X".into(), "Y".into()],
                },
                ExpandItem {
                    name: "Head".into(),
                    select: vec![],
                },
            ],
            orderby: Some("A desc".into()),
            top: Some(101),
            skip: Some(0),
            count: true,
            cross_company: true,
        };
        assert_eq!(
            q.to_query_string(),
            "$filter=Name%20eq%20%27A%26B%27%20and%20X%20eq%20%271%2B1%3D2%23%27\
             &$select=A%2CB&$expand=Lines%28%24select%3DX%2CY%29%2CHead&$orderby=A%20desc&$top=101&$count=true&cross-company=true"
        );
        let base = Url::parse("https://h.example/").unwrap();
        assert_eq!(
            data_url(&base, "CustomersV3", &QueryOptions::default()),
            "https://h.example/data/CustomersV3"
        );
    }

    #[test]
    fn links_must_stay_in_the_environment() {
        let base = Url::parse("https://h.example").unwrap();
        assert!(is_within(&base, "https://h.example/data/X?$skiptoken=1"));
        assert!(is_within(&base, "https://h.example:443/data/X"));
        for bad in [
            "https://evil.example/data/X",
            "http://h.example/data/X",
            "https://h.example:8443/data/X",
            "https://user@h.example/data/X",
            "https://h.example.evil.example/data/X",
            "/data/X",
            "nonsense",
        ] {
            assert!(!is_within(&base, bad), "{bad}");
        }
        let nested = Url::parse("https://h.example/tenant1").unwrap();
        assert!(is_within(&nested, "https://h.example/tenant1/data/X"));
        assert!(!is_within(&nested, "https://h.example/tenant10/data/X"));
    }
}
