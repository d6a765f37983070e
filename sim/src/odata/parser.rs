//! Recursive-descent parser for `$filter`.
//!
//! Grammar (OData ABNF precedence, lowest first):
//!
//! ```text
//! or      := and ( "or" and )*
//! and     := cmp ( "and" cmp )*
//! cmp     := unary ( ("eq"|"ne"|"gt"|"ge"|"lt"|"le") unary )?
//! unary   := "not" unary | primary
//! primary := "(" or ")" | literal | name "(" args ")" | name
//! ```
//!
//! Like Microsoft.OData.Core, `not` binds tighter than comparisons, so
//! `not A eq 'x'` is `(not A) eq 'x'`, which the binder rejects unless `A`
//! is boolean. Nesting is capped so hostile input cannot overflow the stack.

use super::ast::{CmpOp, Expr, Literal};
use super::lexer::{Tok, Token, tokenize};

/// Deepest nesting of parentheses and `not` accepted.
pub const MAX_DEPTH: usize = 100;

/// Parses a `$filter` value. The error is the OData message, e.g.
/// `Syntax error at position 7 in 'Name eq'.`
pub fn parse_filter(text: &str) -> Result<Expr, String> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        tokens,
        at: 0,
        text,
        depth: 0,
    };
    let expr = p.or()?;
    match p.peek() {
        Tok::Eof => Ok(expr),
        _ => Err(p.syntax_error()),
    }
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    text: &'a str,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        self.tokens.get(self.at).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn pos(&self) -> usize {
        self.tokens
            .get(self.at)
            .map_or(self.text.chars().count(), |t| t.pos)
    }

    fn bump(&mut self) -> Tok {
        let tok = self.peek().clone();
        if self.at < self.tokens.len() {
            self.at += 1;
        }
        tok
    }

    fn peek_keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(w) if w == word)
    }

    fn syntax_error(&self) -> String {
        format!(
            "Syntax error at position {} in '{}'.",
            self.pos(),
            self.text
        )
    }

    fn expected(&self, what: &str) -> String {
        format!(
            "{what} expected at position {} in '{}'.",
            self.pos(),
            self.text
        )
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "The recursion depth of the $filter expression exceeds the limit of {MAX_DEPTH}."
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.bump();
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.cmp()?;
        while self.peek_keyword("and") {
            self.bump();
            let right = self.cmp()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn cmp(&mut self) -> Result<Expr, String> {
        let left = self.unary()?;
        let op = match self.peek() {
            Tok::Ident(w) => CmpOp::from_keyword(w),
            _ => None,
        };
        let Some(op) = op else { return Ok(left) };
        self.bump();
        let right = self.unary()?;
        Ok(Expr::Cmp(op, Box::new(left), Box::new(right)))
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_keyword("not") {
            self.bump();
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.bump() {
            Tok::LParen => {
                self.enter()?;
                let inner = self.or()?;
                self.depth -= 1;
                match self.bump() {
                    Tok::RParen => Ok(inner),
                    _ => {
                        self.at = self.at.saturating_sub(1);
                        Err(self.expected("')' or operator"))
                    }
                }
            }
            Tok::Lit(l) => Ok(Expr::Lit(l)),
            Tok::Ident(name) => match name.as_str() {
                "null" => Ok(Expr::Lit(Literal::Null)),
                "true" => Ok(Expr::Lit(Literal::Bool(true))),
                "false" => Ok(Expr::Lit(Literal::Bool(false))),
                "and" | "or" | "not" | "eq" | "ne" | "gt" | "ge" | "lt" | "le" => {
                    self.at = self.at.saturating_sub(1);
                    Err(self.expected("Expression"))
                }
                _ if matches!(self.peek(), Tok::LParen) => self.call(name),
                _ => Ok(Expr::Field(name)),
            },
            _ => {
                self.at = self.at.saturating_sub(1);
                Err(self.expected("Expression"))
            }
        }
    }

    fn call(&mut self, name: String) -> Result<Expr, String> {
        self.bump();
        self.enter()?;
        let mut args = Vec::new();
        if matches!(self.peek(), Tok::RParen) {
            self.bump();
        } else {
            loop {
                args.push(self.or()?);
                match self.bump() {
                    Tok::Comma => continue,
                    Tok::RParen => break,
                    _ => {
                        self.at = self.at.saturating_sub(1);
                        return Err(self.expected("')' or ','"));
                    }
                }
            }
        }
        self.depth -= 1;
        Ok(Expr::Call(name, args))
    }
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
