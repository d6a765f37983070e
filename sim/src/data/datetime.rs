//! `Edm.DateTimeOffset` values: literals from URLs and JSON bodies parsed
//! into one normalized form, UTC milliseconds since the Unix epoch, and
//! rendered the way D365FO renders them (`2024-09-15T05:31:00Z`).
//!
//! Normalizing on the way in is what makes `…05:31:00Z`, `…05:31:00.000Z`
//! and `…07:31:00+02:00` the same instant in a `$filter`, a key or a write,
//! and what lets an invalid literal (`2099-99-99T…`) be refused instead of
//! compared as text.

/// D365FO's "no date", 1900-01-01T00:00:00Z, which it stores for an unset
/// date-time (never null).
pub const NO_DATE_MS: i64 = -2_208_988_800_000;

const MS_PER_DAY: i64 = 86_400_000;

/// Parses an `Edm.DateTimeOffset` literal,
/// `YYYY-MM-DDThh:mm[:ss[.fffffff]](Z|±hh:mm)`, into UTC epoch
/// milliseconds; `None` if the text is not one or a field is out of range
/// (month 13, February 30, hour 24, an offset beyond ±14:00, …).
pub fn parse(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let days = date(b.get(..10)?)?;
    if b.get(10) != Some(&b'T') {
        return None;
    }
    let (hour, minute) = (two(b, 11, 23)?, two(b, 14, 59)?);
    if b.get(13) != Some(&b':') {
        return None;
    }
    let mut at = 16;
    let (mut second, mut millis) = (0, 0);
    if b.get(at) == Some(&b':') {
        second = two(b, at + 1, 59)?;
        at += 3;
        if b.get(at) == Some(&b'.') {
            let digits = b[at + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            // .NET keeps 7 digits (ticks); the OData ABNF allows 12.
            if !(1..=12).contains(&digits) {
                return None;
            }
            millis = b[at + 1..at + 1 + digits]
                .iter()
                .chain(b"000")
                .take(3)
                .fold(0, |n, d| n * 10 + i64::from(d - b'0'));
            at += 1 + digits;
        }
    }
    let offset_minutes = match b.get(at..)? {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (two(b, at + 1, 14)?, two(b, at + 4, 59)?);
            if h == 14 && m != 0 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    let local = days * MS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1000 + millis;
    Some(local - offset_minutes * 60_000)
}

/// Like [`parse`], and also an `Edm.Date` literal `YYYY-MM-DD`, taken as
/// midnight UTC: `$filter=CreatedDateTime ge 2024-01-01` compares a date
/// with a date-time, which Microsoft.OData.Core allows.
pub fn parse_literal(text: &str) -> Option<i64> {
    if text.len() == 10 {
        return date(text.as_bytes()).map(|days| days * MS_PER_DAY);
    }
    parse(text)
}

/// The error Microsoft.OData.Core gives for a malformed date-time literal.
pub fn invalid_literal(text: &str) -> String {
    format!(
        "The DateTimeOffset text '{text}' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?' and each field value is within valid range."
    )
}

/// Appends `YYYY-MM-DDThh:mm:ssZ` (with `.fff` only when the value has
/// milliseconds, which stored values never do).
pub fn write(ms: i64, out: &mut String) {
    use std::fmt::Write;
    let (days, in_day) = (ms.div_euclid(MS_PER_DAY), ms.rem_euclid(MS_PER_DAY));
    let (y, m, d) = civil(days);
    let secs = in_day / 1000;
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if in_day % 1000 != 0 {
        let _ = write!(out, ".{:03}", in_day % 1000);
    }
    out.push('Z');
}

/// [`write`] into a new string.
pub fn render(ms: i64) -> String {
    let mut out = String::with_capacity(24);
    write(ms, &mut out);
    out
}

/// Whole seconds: D365FO's `utcdatetime` keeps no fractions of a second.
pub fn truncate_to_seconds(ms: i64) -> i64 {
    ms - ms.rem_euclid(1000)
}

/// Days since 1970-01-01 of `YYYY-MM-DD`, if it is a real date.
fn date(b: &[u8]) -> Option<i64> {
    let [y0, y1, y2, y3, b'-', _, _, b'-', _, _] = b else {
        return None;
    };
    let year = [y0, y1, y2, y3].iter().try_fold(0i64, |n, d| {
        d.is_ascii_digit().then(|| n * 10 + i64::from(**d - b'0'))
    })?;
    let month = two(b, 5, 12)?;
    let day = two(b, 8, 31)?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let last = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    (year >= 1 && month >= 1 && (1..=last).contains(&day))
        .then(|| days_from_civil(year, month, day))
}

/// Two ASCII digits at `at`, if they are and the number is at most `max`.
fn two(b: &[u8], at: usize, max: i64) -> Option<i64> {
    match b.get(at..at + 2)? {
        [a, c] if a.is_ascii_digit() && c.is_ascii_digit() => {
            let n = i64::from(a - b'0') * 10 + i64::from(c - b'0');
            (n <= max).then_some(n)
        }
        _ => None,
    }
}

// Howard Hinnant's civil-calendar algorithms (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_forms_are_one_instant() {
        let base = parse("2024-09-15T05:31:00Z");
        assert!(base.is_some());
        for same in [
            "2024-09-15T05:31Z",
            "2024-09-15T05:31:00.000Z",
            "2024-09-15T05:31:00.0000000Z",
            "2024-09-15T07:31:00+02:00",
            "2024-09-14T23:31:00-06:00",
        ] {
            assert_eq!(parse(same), base, "{same}");
        }
        assert_eq!(base.map(render).as_deref(), Some("2024-09-15T05:31:00Z"));
        assert_eq!(parse("2024-09-15T05:31:00.5Z"), base.map(|b| b + 500));
        assert_eq!(render(NO_DATE_MS), "1900-01-01T00:00:00Z");
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_literal("2024-02-29"), parse("2024-02-29T00:00:00Z"));
    }

    #[test]
    fn invalid_literals_are_refused() {
        for bad in [
            "2099-99-99Tjunk",
            "2023-02-29T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T10:60:00Z",
            "2024-01-01T10:00:60Z",
            "2024-01-01T10:00:00",
            "2024-01-01T10:00:00.Z",
            "2024-01-01T10:00:00+15:00",
            "2024-01-01T10:00:00+14:30",
            "2024-01-01T10:00:00+0200",
            "2024-01-01 10:00:00Z",
            "0000-01-01T00:00:00Z",
            "2024-01-01",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(parse_literal("2024-13-01"), None);
    }

    proptest::proptest! {
        #[test]
        fn rendering_round_trips(ms in -62_000_000_000_000i64..253_000_000_000_000) {
            proptest::prop_assert_eq!(parse(&render(ms)), Some(ms));
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,40}") {
            let _ = parse_literal(&s);
        }
    }
}
