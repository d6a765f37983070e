//! Tokenizer for `$filter` expressions and entity keys.

use super::ast::Literal;
use crate::data::datetime;

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A name: a property, an operator keyword, a function name.
    Ident(String),
    /// A literal value (string, number, date-time, enum member, …).
    Lit(Literal),
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `,`.
    Comma,
    /// `=` (only meaningful in entity keys).
    Equals,
    /// End of input.
    Eof,
}

/// A token and its character position (0-based, as OData messages count).
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// What was read.
    pub tok: Tok,
    /// Where it starts.
    pub pos: usize,
}

/// Splits `text` into tokens, ending with [`Tok::Eof`]. The error is the
/// OData message for the first bad character.
pub fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let tok = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => single(&mut i, Tok::LParen),
            ')' => single(&mut i, Tok::RParen),
            ',' => single(&mut i, Tok::Comma),
            '=' => single(&mut i, Tok::Equals),
            '\'' => Tok::Lit(Literal::Str(string_literal(&chars, &mut i, text)?)),
            c if c.is_ascii_digit() || (c == '-' && next_is_digit(&chars, i)) => {
                number_or_date(&chars, &mut i, text)?
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '$'))
                {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if chars.get(i) == Some(&'\'') && name.contains('.') {
                    let member = string_literal(&chars, &mut i, text)?;
                    Tok::Lit(Literal::Enum { ty: name, member })
                } else {
                    Tok::Ident(name)
                }
            }
            other => {
                return Err(format!(
                    "Syntax error: character '{other}' is not valid at position {start} in '{text}'."
                ));
            }
        };
        out.push(Token { tok, pos: start });
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: chars.len(),
    });
    Ok(out)
}

fn single(i: &mut usize, tok: Tok) -> Tok {
    *i += 1;
    tok
}

fn next_is_digit(chars: &[char], i: usize) -> bool {
    chars.get(i + 1).is_some_and(char::is_ascii_digit)
}

/// Reads `'…'` starting at the quote; `''` is an escaped quote.
fn string_literal(chars: &[char], i: &mut usize, text: &str) -> Result<String, String> {
    let start = *i;
    *i += 1;
    let mut value = String::new();
    loop {
        match chars.get(*i) {
            None => {
                return Err(format!(
                    "There is an unterminated string literal at position {start} in '{text}'."
                ));
            }
            Some('\'') if chars.get(*i + 1) == Some(&'\'') => {
                value.push('\'');
                *i += 2;
            }
            Some('\'') => {
                *i += 1;
                return Ok(value);
            }
            Some(c) => {
                value.push(*c);
                *i += 1;
            }
        }
    }
}

fn number_or_date(chars: &[char], i: &mut usize, text: &str) -> Result<Tok, String> {
    let start = *i;
    let is_date = chars.len() >= start + 5
        && chars[start..start + 4].iter().all(char::is_ascii_digit)
        && chars[start + 4] == '-';
    if is_date {
        while *i < chars.len()
            && (chars[*i].is_ascii_alphanumeric() || matches!(chars[*i], ':' | '-' | '.' | '+'))
        {
            *i += 1;
        }
        let raw: String = chars[start..*i].iter().collect();
        return datetime::parse_literal(&raw)
            .map(|ms| Tok::Lit(Literal::DateTime(ms)))
            .ok_or_else(|| datetime::invalid_literal(&raw));
    }
    if chars[*i] == '-' {
        *i += 1;
    }
    let mut integral = true;
    while *i < chars.len() {
        let c = chars[*i];
        if c.is_ascii_digit() {
            *i += 1;
        } else if c == '.' && next_is_digit(chars, *i) {
            integral = false;
            *i += 1;
        } else if matches!(c, 'e' | 'E') {
            integral = false;
            *i += 1;
            if matches!(chars.get(*i), Some('+' | '-')) {
                *i += 1;
            }
        } else {
            break;
        }
    }
    let raw: String = chars[start..*i].iter().collect();
    // Type suffixes: 10m (decimal), 1.5d (double), 1f, 10L (int64).
    if let Some(c) = chars
        .get(*i)
        .filter(|c| matches!(c, 'm' | 'M' | 'd' | 'D' | 'f' | 'F' | 'l' | 'L'))
    {
        *i += 1;
        if matches!(c, 'm' | 'M' | 'd' | 'D' | 'f' | 'F') {
            integral = false;
        }
    }
    let bad = || format!("Syntax error at position {start} in '{text}'.");
    if integral && let Ok(v) = raw.parse::<i64>() {
        return Ok(Tok::Lit(Literal::Int(v)));
    }
    match raw.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Tok::Lit(Literal::Num(v))),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s)
            .map(|v| v.into_iter().map(|t| t.tok).collect())
            .unwrap_or_default()
    }

    #[test]
    fn reads_literals() {
        assert_eq!(
            toks("A eq 'O''Brien' or B ge -1.5 and C eq 10 and D eq 2024-01-31T00:00:00Z"),
            vec![
                Tok::Ident("A".into()),
                Tok::Ident("eq".into()),
                Tok::Lit(Literal::Str("O'Brien".into())),
                Tok::Ident("or".into()),
                Tok::Ident("B".into()),
                Tok::Ident("ge".into()),
                Tok::Lit(Literal::Num(-1.5)),
                Tok::Ident("and".into()),
                Tok::Ident("C".into()),
                Tok::Ident("eq".into()),
                Tok::Lit(Literal::Int(10)),
                Tok::Ident("and".into()),
                Tok::Ident("D".into()),
                Tok::Ident("eq".into()),
                Tok::Lit(Literal::DateTime(1_706_659_200_000)),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn reads_enum_literal() {
        assert_eq!(
            toks("Microsoft.Dynamics.DataEntities.NoYes'Yes'"),
            vec![
                Tok::Lit(Literal::Enum {
                    ty: "Microsoft.Dynamics.DataEntities.NoYes".into(),
                    member: "Yes".into()
                }),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn date_times_are_normalized_or_refused() {
        let same = toks("2024-09-15T05:31:00Z");
        assert_eq!(toks("2024-09-15T05:31:00.000Z"), same);
        assert_eq!(toks("2024-09-15T07:31:00+02:00"), same);
        assert!(
            tokenize("D ge 2099-99-99Tjunk")
                .is_err_and(|e| e.contains("The DateTimeOffset text '2099-99-99Tjunk'"))
        );
    }

    #[test]
    fn reports_bad_input() {
        assert!(tokenize("A eq 'open").is_err_and(|e| e.contains("unterminated string")));
        assert!(
            tokenize("A eq #")
                .is_err_and(|e| e.contains("character '#' is not valid at position 5"))
        );
    }
}
