//! MCP prompts: ready-made instructions for an ERP analyst's common asks.
//!
//! Built on the edge from the arguments alone, with no worker call, so they
//! answer at once and work even while D365FO or every worker is down. Each
//! tells the model which tools to call, in which order, with arguments it can
//! copy, and links the matching resource for clients that attach resources.
//! Arguments are checked like any outside input: a missing or malformed one
//! is an invalid-params error naming it, before any text is built.

use common::{ErrorCode, Failure};
use rmcp::model::{GetPromptResult, JsonObject, Prompt, PromptArgument};
use serde_json::Value;

use crate::resources::{is_environment_name, is_identifier};

mod text;

/// Analysis of one data entity.
pub const ENTITY_ANALYSIS: &str = "d365fo_entity_analysis";
/// Overview of one environment.
pub const ENVIRONMENT_SUMMARY: &str = "d365fo_environment_summary";

/// Longest `focus` accepted: a sentence or two, not a document.
const MAX_FOCUS_CHARS: usize = 500;

/// Every prompt, in listing order.
pub fn list() -> Vec<Prompt> {
    let environment = PromptArgument::new("environment")
        .with_title("Environment")
        .with_description("Name of a configured D365FO environment; omit for the default one.")
        .with_required(false);
    vec![
        Prompt::new(
            ENTITY_ANALYSIS,
            Some(
                "Analyze a D365FO data entity for an ERP analyst: schema, keys, volumes, typical \
                 values, distributions and data quality, using the d365fo_* tools.",
            ),
            Some(vec![
                PromptArgument::new("entity")
                    .with_title("Entity")
                    .with_description("Public entity or entity set name, e.g. CustomersV3.")
                    .with_required(true),
                environment.clone(),
                PromptArgument::new("focus")
                    .with_title("Focus")
                    .with_description(
                        "What matters most, e.g. \"data quality\", \"fields for an \
                         integration\" or \"volumes per company\".",
                    )
                    .with_required(false),
            ]),
        )
        .with_title("Analyze a D365FO entity"),
        Prompt::new(
            ENVIRONMENT_SUMMARY,
            Some(
                "Summarize a D365FO environment: connection, versions, companies, master data \
                 and sales volumes, using the d365fo_* tools.",
            ),
            Some(vec![environment]),
        )
        .with_title("Summarize a D365FO environment"),
    ]
}

/// The prompt `name` filled with `arguments`.
pub fn get(name: &str, arguments: Option<JsonObject>) -> Result<GetPromptResult, Failure> {
    let arguments = arguments.unwrap_or_default();
    match name {
        ENTITY_ANALYSIS => {
            let args = Args::read(name, &arguments, &["entity", "environment", "focus"])?;
            let entity = args.required("entity")?;
            if !is_identifier(entity) {
                return Err(args.invalid(
                    "entity",
                    "a public entity or entity set name: letters, digits and `_`, not starting \
                     with a digit, e.g. CustomersV3",
                ));
            }
            let environment = args.environment()?;
            let focus = args.optional("focus");
            if focus.is_some_and(|f| f.chars().count() > MAX_FOCUS_CHARS) {
                return Err(args.invalid("focus", &format!("at most {MAX_FOCUS_CHARS} characters")));
            }
            Ok(text::entity_analysis(entity, environment, focus))
        }
        ENVIRONMENT_SUMMARY => {
            let args = Args::read(name, &arguments, &["environment"])?;
            Ok(text::environment_summary(args.environment()?))
        }
        _ => Err(Failure::new(
            ErrorCode::InvalidArguments,
            format!(
                "unknown prompt `{}`; prompts/list names the prompts: {ENTITY_ANALYSIS}, \
                 {ENVIRONMENT_SUMMARY}",
                name.chars().take(100).collect::<String>()
            ),
        )),
    }
}

/// A prompt's string arguments, checked against the names it takes.
struct Args<'a> {
    prompt: &'a str,
    values: Vec<(&'a str, &'a str)>,
}

impl<'a> Args<'a> {
    fn read(prompt: &'a str, given: &'a JsonObject, takes: &[&str]) -> Result<Self, Failure> {
        let mut values = Vec::new();
        for (name, value) in given {
            if !takes.contains(&name.as_str()) {
                return Err(Failure::new(
                    ErrorCode::InvalidArguments,
                    format!(
                        "prompt `{prompt}` takes no argument `{}`; it takes {}",
                        name.chars().take(100).collect::<String>(),
                        takes.join(", ")
                    ),
                ));
            }
            let Value::String(value) = value else {
                return Err(Failure::new(
                    ErrorCode::InvalidArguments,
                    format!("argument `{name}` of prompt `{prompt}` must be a string"),
                ));
            };
            // A form left blank is an argument not given.
            let value = value.trim();
            if !value.is_empty() {
                values.push((name.as_str(), value));
            }
        }
        Ok(Self { prompt, values })
    }

    fn optional(&self, name: &str) -> Option<&'a str> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    fn required(&self, name: &str) -> Result<&'a str, Failure> {
        self.optional(name).ok_or_else(|| {
            Failure::new(
                ErrorCode::InvalidArguments,
                format!(
                    "prompt `{}` needs the argument `{name}`, e.g. \"CustomersV3\"",
                    self.prompt
                ),
            )
        })
    }

    fn environment(&self) -> Result<Option<&'a str>, Failure> {
        match self.optional("environment") {
            Some(name) if !is_environment_name(name) => Err(self.invalid(
                "environment",
                "the name of a configured environment: 1 to 64 letters, digits, `-`, `_` or `.`",
            )),
            name => Ok(name),
        }
    }

    fn invalid(&self, name: &str, rule: &str) -> Failure {
        Failure::new(
            ErrorCode::InvalidArguments,
            format!(
                "argument `{name}` of prompt `{}` must be {rule}; got {}",
                self.prompt,
                crate::resources::shown(self.optional(name).unwrap_or_default())
            ),
        )
    }
}
