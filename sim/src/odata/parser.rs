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
//! is boolean.
//!
//! Hostile input cannot overflow the stack or run away with memory:
//!
//! - `and` / `or` chains are read with a loop into one n-ary node, so their
//!   length adds no depth;
//! - nesting (parentheses, `not`, function calls), the only recursion, is
//!   capped at [`MAX_DEPTH`];
//! - the whole tree is capped at [`MAX_NODES`] nodes, so an absurdly long
//!   filter is a 400 with the message of Web API's node-count validation
//!   (the real service also refuses absurdly long filters).

use super::ast::{CmpOp, Expr, Literal};
use super::lexer::{Tok, Token, tokenize};

/// Deepest nesting of parentheses, `not` and function calls accepted.
pub const MAX_DEPTH: usize = 100;

/// Most nodes a `$filter` tree may have. Every property, literal,
/// comparison, `not`, call and each `and` / `or` operator counts one, so
/// `A eq 'x' or A eq 'y'` is 7. Web API's own default (`MaxNodeCount`) is
/// 100; this is deliberately more generous, about 330 `eq` clauses.
pub const MAX_NODES: usize = 1000;

/// The message for a filter over [`MAX_NODES`], in Web API's wording.
pub fn too_many_nodes_message() -> String {
    format!(
        "The node count limit of '{MAX_NODES}' has been exceeded. To increase the limit, set the 'MaxNodeCount' property on EnableQueryAttribute or ODataValidationSettings."
    )
}

/// Parses a `$filter` value. The error is the OData message, e.g.
/// `Syntax error at position 7 in 'Name eq'.`
pub fn parse_filter(text: &str) -> Result<Expr, String> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        tokens,
        at: 0,
        text,
        depth: 0,
        nodes: 0,
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
    nodes: usize,
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

    /// Counts one tree node against [`MAX_NODES`].
    fn node(&mut self) -> Result<(), String> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(too_many_nodes_message());
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, String> {
        let first = self.and()?;
        if !self.peek_keyword("or") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.peek_keyword("or") {
            self.bump();
            self.node()?;
            items.push(self.and()?);
        }
        Ok(Expr::Or(items))
    }

    fn and(&mut self) -> Result<Expr, String> {
        let first = self.cmp()?;
        if !self.peek_keyword("and") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.peek_keyword("and") {
            self.bump();
            self.node()?;
            items.push(self.cmp()?);
        }
        Ok(Expr::And(items))
    }

    fn cmp(&mut self) -> Result<Expr, String> {
        let left = self.unary()?;
        let op = match self.peek() {
            Tok::Ident(w) => CmpOp::from_keyword(w),
            _ => None,
        };
        let Some(op) = op else { return Ok(left) };
        self.bump();
        self.node()?;
        let right = self.unary()?;
        Ok(Expr::Cmp(op, Box::new(left), Box::new(right)))
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_keyword("not") {
            self.bump();
            self.node()?;
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
            Tok::Lit(l) => {
                self.node()?;
                Ok(Expr::Lit(l))
            }
            Tok::Ident(name) => match name.as_str() {
                "and" | "or" | "not" | "eq" | "ne" | "gt" | "ge" | "lt" | "le" => {
                    self.at = self.at.saturating_sub(1);
                    Err(self.expected("Expression"))
                }
                _ => {
                    self.node()?;
                    Ok(match name.as_str() {
                        "null" => Expr::Lit(Literal::Null),
                        "true" => Expr::Lit(Literal::Bool(true)),
                        "false" => Expr::Lit(Literal::Bool(false)),
                        _ if matches!(self.peek(), Tok::LParen) => return self.call(name),
                        _ => Expr::Field(name),
                    })
                }
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
