//! Ansible variables evaluated as Ansible does: every value is YAML whose strings may be Jinja2
//! templates over other variables, resolved lazily when a template names them (so order of
//! definition does not matter), with layers of precedence (later layers win). A string that
//! is one `{{ expression }}` keeps the expression's type (a list stays a list), as Ansible's
//! templating does. The filters and tests Kubespray's defaults use are added to minijinja.
//!
//! A variable that cannot be evaluated is an error naming the variable and its expression.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use minijinja::value::{Kwargs, Object, Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};

/// Why a variable could not be evaluated.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot evaluate `{variable}` = {expression}: {message}")]
pub struct EvalError {
    pub variable: String,
    pub expression: String,
    pub message: String,
}

/// The variables of one host: raw YAML values by name, evaluated on demand and cached.
#[derive(Debug)]
pub struct Vars {
    raw: HashMap<String, yaml_serde::Value>,
    environment: Arc<Environment<'static>>,
    cache: Mutex<HashMap<String, Value>>,
    /// Variables being evaluated (a cycle is an error, not a hang).
    active: Mutex<Vec<String>>,
    /// The first failure inside a nested evaluation (minijinja's object lookups cannot fail).
    failure: Mutex<Option<EvalError>>,
}

impl Vars {
    /// `layers` from lowest to highest precedence.
    pub fn new(layers: Vec<HashMap<String, yaml_serde::Value>>) -> Arc<Vars> {
        let mut raw = HashMap::new();
        for layer in layers {
            raw.extend(layer);
        }
        Arc::new(Vars {
            raw,
            environment: Arc::new(environment()),
            cache: Mutex::new(HashMap::new()),
            active: Mutex::new(Vec::new()),
            failure: Mutex::new(None),
        })
    }

    /// The value of `name`, fully evaluated.
    pub fn get(self: &Arc<Self>, name: &str) -> Result<Value, EvalError> {
        let value = self.lookup(name);
        if let Some(failure) = self.failure.lock().unwrap().take() {
            return Err(failure);
        }
        value.ok_or_else(|| EvalError {
            variable: name.to_string(),
            expression: String::new(),
            message: "is not defined".to_string(),
        })
    }

    /// Evaluates a raw YAML value (e.g. one field of a download) in this context.
    pub fn evaluate(
        self: &Arc<Self>,
        name: &str,
        raw: &yaml_serde::Value,
    ) -> Result<Value, EvalError> {
        let result = self.template_value(name, raw);
        if let Some(failure) = self.failure.lock().unwrap().take() {
            return Err(failure);
        }
        result
    }

    fn lookup(self: &Arc<Self>, name: &str) -> Option<Value> {
        if let Some(value) = self.cache.lock().unwrap().get(name) {
            return Some(value.clone());
        }
        let raw = self.raw.get(name)?.clone();
        {
            let mut active = self.active.lock().unwrap();
            if active.iter().any(|known| known == name) {
                let chain = active.join(" -> ");
                drop(active);
                self.fail(EvalError {
                    variable: name.to_string(),
                    expression: yaml_text(&raw),
                    message: format!("refers to itself ({chain} -> {name})"),
                });
                return None;
            }
            active.push(name.to_string());
        }
        let result = self.template_value(name, &raw);
        self.active.lock().unwrap().retain(|known| known != name);
        match result {
            Ok(value) => {
                self.cache
                    .lock()
                    .unwrap()
                    .insert(name.to_string(), value.clone());
                Some(value)
            }
            Err(error) => {
                self.fail(error);
                None
            }
        }
    }

    fn fail(&self, error: EvalError) {
        let mut failure = self.failure.lock().unwrap();
        if failure.is_none() {
            *failure = Some(error);
        }
    }

    fn template_value(
        self: &Arc<Self>,
        name: &str,
        raw: &yaml_serde::Value,
    ) -> Result<Value, EvalError> {
        Ok(match raw {
            yaml_serde::Value::String(text) => self.template_string(name, text)?,
            yaml_serde::Value::Sequence(items) => Value::from(
                items
                    .iter()
                    .map(|item| self.template_value(name, item))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            yaml_serde::Value::Mapping(map) => {
                let mut pairs = Vec::new();
                for (key, value) in map {
                    let key = match key {
                        yaml_serde::Value::String(text) => Value::from(text.clone()),
                        other => Value::from(yaml_text(other)),
                    };
                    pairs.push((key, self.template_value(name, value)?));
                }
                Value::from_iter(pairs)
            }
            yaml_serde::Value::Bool(value) => Value::from(*value),
            yaml_serde::Value::Number(number) => {
                if let Some(integer) = number.as_i64() {
                    Value::from(integer)
                } else {
                    Value::from(number.as_f64().unwrap_or_default())
                }
            }
            yaml_serde::Value::Null => Value::from(()),
            yaml_serde::Value::Tagged(tagged) => self.template_value(name, &tagged.value)?,
        })
    }

    /// A string: plain text as is; one `{{ expression }}` keeps its type; anything else is
    /// rendered to text.
    fn template_string(self: &Arc<Self>, name: &str, text: &str) -> Result<Value, EvalError> {
        if !text.contains("{{") && !text.contains("{%") {
            return Ok(Value::from(text));
        }
        let context = Value::from_dyn_object(self.clone());
        let failed = |error: Error| {
            let message = crate::http::error_chain(&error);
            EvalError {
                variable: name.to_string(),
                expression: text.trim().to_string(),
                message,
            }
        };
        let trimmed = text.trim();
        if let Some(inner) = trimmed
            .strip_prefix("{{")
            .and_then(|rest| rest.strip_suffix("}}"))
            && !inner.contains("{{")
            && !inner.contains("}}")
        {
            let expression = self
                .environment
                .compile_expression_owned(inner.to_string())
                .map_err(failed)?;
            let value = expression.eval(context);
            if let Some(error) = self.failure.lock().unwrap().take() {
                return Err(error);
            }
            let value = value.map_err(failed)?;
            if value.is_undefined() {
                return Err(EvalError {
                    variable: name.to_string(),
                    expression: text.trim().to_string(),
                    message: "is undefined: a variable or key it uses does not exist".to_string(),
                });
            }
            return Ok(value);
        }
        let rendered = self.environment.render_str(text, context);
        if let Some(error) = self.failure.lock().unwrap().take() {
            return Err(error);
        }
        let rendered = rendered.map_err(failed)?;
        Ok(Value::from(rendered))
    }
}

impl Object for Vars {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.lookup(key.as_str()?)
    }
}

fn yaml_text(value: &yaml_serde::Value) -> String {
    yaml_serde::to_string(value)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Ansible's truthiness of a string (`bool` filter): yes/true/on/1 are true.
pub fn truthy(value: &Value) -> bool {
    match value.kind() {
        ValueKind::String => matches!(
            value
                .as_str()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
                .as_str(),
            "yes" | "true" | "on" | "1" | "y" | "t"
        ),
        ValueKind::Bool | ValueKind::Number => value.is_true(),
        _ => value.is_true(),
    }
}

fn version_test(value: &Value, other: &Value, operator: Option<&Value>) -> Result<bool, Error> {
    let operator = operator
        .and_then(|operator| operator.as_str().map(str::to_string))
        .unwrap_or_else(|| "==".to_string());
    let ordering = crate::version::compare_loose(&value.to_string(), &other.to_string());
    use std::cmp::Ordering::{Equal, Greater, Less};
    Ok(match operator.as_str() {
        "<" | "lt" => ordering == Less,
        "<=" | "le" => ordering != Greater,
        ">" | "gt" => ordering == Greater,
        ">=" | "ge" => ordering != Less,
        "==" | "=" | "eq" => ordering == Equal,
        "!=" | "<>" | "ne" => ordering != Equal,
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("unknown version comparison `{other}`"),
            ));
        }
    })
}

/// minijinja with Ansible's filters, tests and lookups that Kubespray's defaults use.
fn environment() -> Environment<'static> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    environment.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    environment.add_test(
        "version",
        |value: Value, other: Value, operator: Option<Value>| {
            version_test(&value, &other, operator.as_ref())
        },
    );
    environment.add_test(
        "version_compare",
        |value: Value, other: Value, operator: Option<Value>| {
            version_test(&value, &other, operator.as_ref())
        },
    );
    environment.add_test("truthy", |value: Value| truthy(&value));
    environment.add_test("falsy", |value: Value| !truthy(&value));
    environment.add_test("match", |value: String, pattern: String| {
        regex::Regex::new(&format!("^(?:{pattern})"))
            .map(|regex| regex.is_match(&value))
            .map_err(|error| Error::new(ErrorKind::InvalidOperation, error.to_string()))
    });
    environment.add_test("search", |value: String, pattern: String| {
        regex::Regex::new(&pattern)
            .map(|regex| regex.is_match(&value))
            .map_err(|error| Error::new(ErrorKind::InvalidOperation, error.to_string()))
    });
    environment.add_test(
        "subset",
        |value: Value, other: Value| -> Result<bool, Error> {
            let other: Vec<Value> = other.try_iter()?.collect();
            Ok(value.try_iter()?.all(|item| other.contains(&item)))
        },
    );
    environment.add_filter("bool", |value: Value| truthy(&value));
    environment.add_filter(
        "ternary",
        |value: Value, yes: Value, no: Value| {
            if truthy(&value) { yes } else { no }
        },
    );
    environment.add_filter("dict2items", |value: Value| -> Result<Value, Error> {
        let mut items = Vec::new();
        for key in value.try_iter()? {
            let item = value.get_item(&key)?;
            items.push(Value::from_iter([("key", key), ("value", item)]));
        }
        Ok(Value::from(items))
    });
    environment.add_filter("items2dict", |value: Value| -> Result<Value, Error> {
        let mut pairs = Vec::new();
        for item in value.try_iter()? {
            pairs.push((item.get_attr("key")?, item.get_attr("value")?));
        }
        Ok(Value::from_iter(pairs))
    });
    environment.add_filter(
        "combine",
        |value: Value, others: Rest<Value>| -> Result<Value, Error> {
            let mut pairs: Vec<(Value, Value)> = Vec::new();
            for map in std::iter::once(&value).chain(others.iter()) {
                if map.is_undefined() || map.is_none() {
                    continue;
                }
                for key in map.try_iter()? {
                    let item = map.get_item(&key)?;
                    pairs.retain(|(known, _)| known != &key);
                    pairs.push((key, item));
                }
            }
            Ok(Value::from_iter(pairs))
        },
    );
    environment.add_filter(
        "regex_replace",
        |value: String, pattern: String, replacement: Option<String>| {
            let replacement = replacement.unwrap_or_default();
            // Python's \1 back-references are ${1} for the regex crate.
            let replacement = regex::Regex::new(r"\\(\d+)")
                .map(|backslash| backslash.replace_all(&replacement, "$${$1}").into_owned())
                .unwrap_or(replacement);
            regex::Regex::new(&pattern)
                .map(|regex| regex.replace_all(&value, replacement.as_str()).into_owned())
                .map_err(|error| Error::new(ErrorKind::InvalidOperation, error.to_string()))
        },
    );
    environment.add_filter("regex_search", |value: String, pattern: String| {
        regex::Regex::new(&pattern)
            .map(|regex| {
                regex
                    .find(&value)
                    .map(|found| Value::from(found.as_str()))
                    .unwrap_or(Value::from(()))
            })
            .map_err(|error| Error::new(ErrorKind::InvalidOperation, error.to_string()))
    });
    environment.add_filter(
        "flatten",
        |value: Value, levels: Option<usize>| -> Result<Value, Error> {
            fn flatten(
                value: &Value,
                levels: Option<usize>,
                out: &mut Vec<Value>,
            ) -> Result<(), Error> {
                for item in value.try_iter()? {
                    if item.kind() == ValueKind::Seq && levels != Some(0) {
                        flatten(&item, levels.map(|levels| levels - 1), out)?;
                    } else {
                        out.push(item);
                    }
                }
                Ok(())
            }
            let mut out = Vec::new();
            flatten(&value, levels, &mut out)?;
            Ok(Value::from(out))
        },
    );
    environment.add_filter("to_json", |value: Value| {
        serde_json::to_string(&value).unwrap_or_default()
    });
    environment.add_filter("from_json", |value: String| -> Result<Value, Error> {
        serde_json::from_str::<serde_json::Value>(&value)
            .map(Value::from_serialize)
            .map_err(|error| Error::new(ErrorKind::InvalidOperation, error.to_string()))
    });
    environment.add_filter(
        "difference",
        |value: Value, other: Value| -> Result<Value, Error> {
            let other: Vec<Value> = other.try_iter()?.collect();
            Ok(Value::from(
                value
                    .try_iter()?
                    .filter(|item| !other.contains(item))
                    .collect::<Vec<_>>(),
            ))
        },
    );
    environment.add_filter(
        "intersect",
        |value: Value, other: Value| -> Result<Value, Error> {
            let other: Vec<Value> = other.try_iter()?.collect();
            Ok(Value::from(
                value
                    .try_iter()?
                    .filter(|item| other.contains(item))
                    .collect::<Vec<_>>(),
            ))
        },
    );
    environment.add_filter(
        "union",
        |value: Value, other: Value| -> Result<Value, Error> {
            let mut out: Vec<Value> = value.try_iter()?.collect();
            for item in other.try_iter()? {
                if !out.contains(&item) {
                    out.push(item);
                }
            }
            Ok(Value::from(out))
        },
    );
    environment.add_filter("basename", |value: String| {
        value.rsplit('/').next().unwrap_or_default().to_string()
    });
    environment.add_filter("dirname", |value: String| {
        value
            .rsplit_once('/')
            .map(|(dir, _)| dir.to_string())
            .unwrap_or_default()
    });
    environment.add_filter("quote", |value: String| {
        format!("'{}'", value.replace('\'', "'\"'\"'"))
    });
    environment.add_filter("mandatory", |value: Value| -> Result<Value, Error> {
        if value.is_undefined() {
            Err(Error::new(
                ErrorKind::UndefinedError,
                "a mandatory variable is not defined",
            ))
        } else {
            Ok(value)
        }
    });
    environment.add_filter("type_debug", |value: Value| value.kind().to_string());
    // lookup('env', NAME) and lookup('vars', NAME): the only lookups Kubespray's defaults use.
    environment.add_function(
        "lookup",
        |state: &minijinja::State,
         kind: String,
         arguments: Rest<Value>,
         _options: Kwargs|
         -> Result<Value, Error> {
            let name = arguments
                .first()
                .map(|name| name.to_string())
                .unwrap_or_default();
            match kind.as_str() {
                "env" => Ok(Value::from(std::env::var(&name).unwrap_or_default())),
                "vars" => {
                    let value = state.lookup(&name).unwrap_or_default();
                    if value.is_undefined() {
                        Err(Error::new(
                            ErrorKind::UndefinedError,
                            format!("lookup('vars', '{name}'): not defined"),
                        ))
                    } else {
                        Ok(value)
                    }
                }
                other => Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("lookup('{other}', ...) is not supported (only env and vars)"),
                )),
            }
        },
    );
    environment.add_function(
        "query",
        |kind: String, _arguments: Rest<Value>| -> Result<Value, Error> {
            Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("query('{kind}', ...) is not supported"),
            ))
        },
    );
    environment
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> Arc<Vars> {
        let layer: HashMap<String, yaml_serde::Value> = yaml_serde::from_str(text).unwrap();
        Vars::new(vec![layer])
    }

    #[test]
    fn variables_resolve_lazily_and_keep_types() {
        let vars = vars(
            "a: \"{{ b }}-x\"\nb: \"{{ c | int + 1 }}\"\nc: 41\nlist: \"{{ [b, 'y'] }}\"\nchecks:\n  amd64:\n    1.2.0: x\n    1.1.0: y\nfirst: \"{{ (checks['amd64'] | dict2items)[0].key }}\"\nold: \"{{ (checks['amd64'].keys() | select('version', '1.2', '<'))[0] }}\"\n",
        );
        assert_eq!(vars.get("a").unwrap().to_string(), "42-x");
        assert_eq!(vars.get("list").unwrap().len(), Some(2));
        assert_eq!(vars.get("first").unwrap().to_string(), "1.2.0");
        assert_eq!(vars.get("old").unwrap().to_string(), "1.1.0");
    }

    #[test]
    fn failures_name_the_variable_and_expression() {
        let vars = vars("a: \"{{ b }}\"\nb: \"{{ 1 | nosuchfilter }}\"\nloop: \"{{ loop }}\"\n");
        let error = vars.get("a").unwrap_err();
        assert_eq!(error.variable, "b");
        assert!(error.expression.contains("nosuchfilter"), "{error}");
        let error = vars.get("loop").unwrap_err();
        assert!(error.message.contains("refers to itself"), "{error}");
    }

    #[test]
    fn version_comparisons() {
        assert!(
            version_test(
                &Value::from("1.35.4"),
                &Value::from("1.32.0"),
                Some(&Value::from(">="))
            )
            .unwrap()
        );
        assert!(
            version_test(
                &Value::from("3.6.5"),
                &Value::from("3.7"),
                Some(&Value::from("<"))
            )
            .unwrap()
        );
        assert!(
            !version_test(
                &Value::from("3.7.0"),
                &Value::from("3.7"),
                Some(&Value::from("<"))
            )
            .unwrap()
        );
    }
}
