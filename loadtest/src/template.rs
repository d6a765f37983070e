//! Argument templates: JSON values whose strings may hold placeholders.
//!
//! | placeholder | value |
//! |---|---|
//! | `{{seq}}` | the scenario step's instance number, the same in every step of one instance |
//! | `{{uuid}}` | a random UUID per instance, the same in every step of it |
//! | `{{choice:a\|b\|c}}` | one of the options, drawn at each use |
//! | `{{int:LO:HI}}` | an integer in `LO..=HI`, drawn at each use |
//!
//! A string that is nothing but `{{seq}}` or `{{int:…}}` becomes a JSON
//! number; anything else is text. Templates are compiled once, when the
//! scenario is read, so a bad placeholder stops the run before it starts.

use rand::Rng;
use serde_json::{Map, Value};
use uuid::Uuid;

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// A value with no placeholder in it.
    Literal(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    Text(Vec<Part>),
}

/// A piece of a templated string.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Lit(String),
    Seq,
    Uuid,
    Choice(Vec<String>),
    Int(i64, i64),
}

/// What one scenario instance shares across its steps.
#[derive(Debug, Clone, Copy)]
pub struct Vars {
    pub seq: u64,
    pub uuid: Uuid,
}

impl Vars {
    /// The variables of instance `seq`, with a fresh UUID.
    pub fn new(seq: u64) -> Self {
        Self {
            seq,
            uuid: Uuid::new_v4(),
        }
    }
}

impl Template {
    /// Compiles `value`; the error names the bad placeholder.
    pub fn compile(value: &Value) -> Result<Template, String> {
        Ok(match value {
            Value::String(s) if s.contains("{{") => Template::Text(parse_text(s)?),
            Value::Object(map) => {
                let fields = map
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), Template::compile(v)?)))
                    .collect::<Result<Vec<_>, String>>()?;
                if fields
                    .iter()
                    .all(|(_, t)| matches!(t, Template::Literal(_)))
                {
                    Template::Literal(value.clone())
                } else {
                    Template::Object(fields)
                }
            }
            Value::Array(items) => {
                let items = items
                    .iter()
                    .map(Template::compile)
                    .collect::<Result<Vec<_>, String>>()?;
                if items.iter().all(|t| matches!(t, Template::Literal(_))) {
                    Template::Literal(value.clone())
                } else {
                    Template::Array(items)
                }
            }
            other => Template::Literal(other.clone()),
        })
    }

    /// The value for one instance.
    pub fn render(&self, vars: &Vars, rng: &mut impl Rng) -> Value {
        match self {
            Template::Literal(v) => v.clone(),
            Template::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, t)| (k.clone(), t.render(vars, rng)))
                    .collect::<Map<_, _>>(),
            ),
            Template::Array(items) => {
                Value::Array(items.iter().map(|t| t.render(vars, rng)).collect())
            }
            Template::Text(parts) => match parts.as_slice() {
                [Part::Seq] => Value::from(vars.seq),
                [Part::Int(lo, hi)] => Value::from(rng.random_range(*lo..=*hi)),
                parts => {
                    let mut out = String::new();
                    for part in parts {
                        match part {
                            Part::Lit(s) => out.push_str(s),
                            Part::Seq => out.push_str(&vars.seq.to_string()),
                            Part::Uuid => out.push_str(&vars.uuid.to_string()),
                            Part::Choice(options) => {
                                out.push_str(&options[rng.random_range(0..options.len())]);
                            }
                            Part::Int(lo, hi) => {
                                out.push_str(&rng.random_range(*lo..=*hi).to_string());
                            }
                        }
                    }
                    Value::String(out)
                }
            },
        }
    }
}

fn parse_text(s: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(Part::Lit(rest[..open].to_owned()));
        }
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("`{s}`: a `{{{{` without its `}}}}`"))?;
        parts.push(parse_placeholder(after[..close].trim())?);
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Lit(rest.to_owned()));
    }
    Ok(parts)
}

fn parse_placeholder(p: &str) -> Result<Part, String> {
    let (name, arg) = p.split_once(':').unwrap_or((p, ""));
    match (name, arg) {
        ("seq", "") => Ok(Part::Seq),
        ("uuid", "") => Ok(Part::Uuid),
        ("choice", options) => {
            let options: Vec<String> = options.split('|').map(str::to_owned).collect();
            if options.iter().any(String::is_empty) {
                return Err(format!(
                    "`{{{{{p}}}}}`: choices must be non-empty, as in `{{{{choice:a|b}}}}`"
                ));
            }
            Ok(Part::Choice(options))
        }
        ("int", bounds) => {
            let parsed = bounds
                .split_once(':')
                .and_then(|(lo, hi)| Some((lo.trim().parse().ok()?, hi.trim().parse().ok()?)));
            match parsed {
                Some((lo, hi)) if lo <= hi => Ok(Part::Int(lo, hi)),
                _ => Err(format!(
                    "`{{{{{p}}}}}`: expected `{{{{int:LO:HI}}}}` with integers LO <= HI"
                )),
            }
        }
        _ => Err(format!(
            "`{{{{{p}}}}}`: unknown placeholder (known: seq, uuid, choice:a|b, int:LO:HI)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};
    use serde_json::json;

    fn render(value: Value, seq: u64) -> Value {
        let template = Template::compile(&value).unwrap();
        template.render(&Vars::new(seq), &mut StdRng::seed_from_u64(7))
    }

    #[test]
    fn values_without_placeholders_stay_as_they_are() {
        let value = json!({"entity_set": "CustomersV3", "top": 5, "select": ["A", "B"]});
        assert_eq!(
            Template::compile(&value).unwrap(),
            Template::Literal(value.clone())
        );
        assert_eq!(render(value.clone(), 1), value);
    }

    #[test]
    fn seq_alone_is_a_number_and_inside_text_is_text() {
        assert_eq!(
            render(json!({"n": "{{seq}}", "k": "LT-{{seq}}"}), 42),
            json!({"n": 42, "k": "LT-42"})
        );
    }

    #[test]
    fn one_instance_shares_its_uuid_and_seq_across_steps() {
        let create = Template::compile(&json!({"id": "{{uuid}}-{{seq}}"})).unwrap();
        let delete = Template::compile(&json!({"key": {"id": "{{uuid}}-{{seq}}"}})).unwrap();
        let vars = Vars::new(9);
        let mut rng = StdRng::seed_from_u64(1);
        let made = create.render(&vars, &mut rng)["id"].clone();
        assert_eq!(delete.render(&vars, &mut rng)["key"]["id"], made);
        assert!(made.as_str().unwrap().ends_with("-9"));
        assert_ne!(
            create.render(&Vars::new(9), &mut rng)["id"],
            made,
            "a new instance draws a new uuid"
        );
    }

    #[test]
    fn choice_and_int_stay_within_their_options() {
        let template = Template::compile(&json!([
            "{{choice:a|b|c}}",
            "{{int:3:5}}",
            "x{{int:-2:-2}}"
        ]))
        .unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let mut seen = std::collections::BTreeSet::new();
        for seq in 0..200 {
            let v = template.render(&Vars::new(seq), &mut rng);
            let choice = v[0].as_str().unwrap().to_owned();
            assert!(["a", "b", "c"].contains(&choice.as_str()));
            seen.insert(choice);
            assert!((3..=5).contains(&v[1].as_i64().unwrap()));
            assert_eq!(v[2], "x-2");
        }
        assert_eq!(seen.len(), 3, "every option is drawn");
    }

    #[test]
    fn bad_placeholders_are_refused_by_name() {
        for (bad, needle) in [
            ("{{nope}}", "unknown placeholder"),
            ("{{seq", "without its"),
            ("{{int:5:1}}", "LO <= HI"),
            ("{{int:a:b}}", "integers"),
            ("{{choice:a||b}}", "non-empty"),
            ("{{seq:1}}", "unknown placeholder"),
        ] {
            let err = Template::compile(&json!({"x": bad})).unwrap_err();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }
}
