//! The OData request language as D365FO speaks it.
//!
//! - [`lexer`]: tokens of `$filter` expressions and entity keys.
//! - [`ast`]: the parsed `$filter` tree ([`ast::Expr`]) and its canonical
//!   printed form.
//! - [`parser`]: recursive descent from tokens to [`ast::Expr`], with the
//!   precedence of the OData ABNF (`not` > comparison > `and` > `or`).
//! - [`bind`]: resolves an [`ast::Expr`] against an entity set's schema into
//!   a [`bind::Predicate`] that evaluates rows cheaply.
//! - [`query`]: the system query options of a request (`$top`, `$skip`,
//!   `$select`, `$filter`, `$orderby`, `$count`, `cross-company`).
//! - [`execute`]: running a bound query over a table: filter, order, page.
//! - [`key`]: the `(…)` entity key of a path segment.
//! - [`expand`]: the `$expand` option (one level, nested `$select`).

pub mod ast;
pub mod bind;
pub mod execute;
pub mod expand;
pub mod key;
pub mod lexer;
pub mod parser;
pub mod query;

pub use parser::parse_filter;
pub use query::QueryOptions;
