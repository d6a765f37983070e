//! Hand-rolled JSON writing for the hot paths: rows are pre-serialized once
//! and responses are concatenated from fragments, so no value tree is built
//! per request.

use std::fmt::Write as _;

/// Appends `s` as a JSON string literal (with quotes) to `out`.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a decimal the way D365FO writes `Edm.Decimal` with
/// `IEEE754Compatible=false`: a bare number, no trailing `.0` on whole values.
pub(crate) fn push_decimal(out: &mut String, v: f64) {
    if !v.is_finite() {
        out.push('0');
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_specials() {
        let mut s = String::new();
        push_str(&mut s, "a\"b\\c\n\u{1}");
        assert_eq!(s, r#""a\"b\\c\n\u0001""#);
    }

    #[test]
    fn decimals_drop_trailing_zero() {
        let mut s = String::new();
        push_decimal(&mut s, 2500.0);
        s.push(' ');
        push_decimal(&mut s, 12.5);
        assert_eq!(s, "2500 12.5");
    }
}
