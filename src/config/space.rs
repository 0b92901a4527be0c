//! A search space entry (`{ choice = [...] }`, `{ uniform = [a, b] }`, `{ log_uniform = [a, b] }`,
//! `{ int = [a, b], log = true }`) as written, and which values it can propose: the parsing
//! behind `[search] space` and the checks behind `enqueue`.

use super::error::{nearest, SourceMap};
use super::search::Dist;
use super::ConfigError;
use serde_json::Value;

const DISTRIBUTIONS: &[&str] = &["choice", "uniform", "log_uniform", "int"];

/// The values a key is checked at: each choice, or both ends of a range.
pub(super) fn ends(d: &Dist) -> Vec<Value> {
    match d {
        Dist::Choice(c) => c.clone(),
        Dist::Uniform(a, b) | Dist::LogUniform(a, b) => vec![Value::from(*a), Value::from(*b)],
        Dist::Int { low, high, .. } => vec![Value::from(*low), Value::from(*high)],
    }
}

/// One `space` entry: `{ choice = [...] }`, `{ uniform = [a, b] }`, `{ log_uniform = [a, b] }`
/// or `{ int = [a, b], log = true }`.
pub(super) fn parse_dist(v: &Value, key: &str, sm: &SourceMap) -> Result<Dist, ConfigError> {
    let forms = "write { choice = [..] }, { uniform = [a, b] }, { log_uniform = [a, b] } or { int = [a, b] } (with log = true for log spacing)";
    let Some(m) = v.as_object() else {
        return Err(sm.error(key, "a search space entry must be a table", Some(forms.into())));
    };
    let mut dist: Option<(&str, &Value)> = None;
    let mut log = None;
    for (k, x) in m {
        match k.as_str() {
            "log" => log = Some(x.as_bool().ok_or_else(|| sm.error(&format!("{key}.log"), "must be true or false", None))?),
            d if DISTRIBUTIONS.contains(&d) => {
                if let Some((first, _)) = dist {
                    return Err(sm.error(&format!("{key}.{d}"), format!("one distribution per key; `{first}` is also given"), None));
                }
                dist = Some((d, x));
            }
            other => {
                let hint = nearest(other, DISTRIBUTIONS.iter().copied().chain(["log"])).map_or(forms.to_string(), |n| format!("did you mean `{n}`?"));
                return Err(sm.error(&format!("{key}.{other}"), format!("unknown distribution `{other}`"), Some(hint)));
            }
        }
    }
    let Some((name, x)) = dist else {
        return Err(sm.error(key, "names no distribution", Some(forms.into())));
    };
    let at = format!("{key}.{name}");
    if log.is_some() && name != "int" {
        let hint = if name == "uniform" { "use { log_uniform = [a, b] }" } else { "`log` applies to `int` only" };
        return Err(sm.error(&format!("{key}.log"), format!("`log` does not apply to `{name}`"), Some(hint.into())));
    }
    if name == "choice" {
        return match x.as_array() {
            Some(c) if !c.is_empty() => Ok(Dist::Choice(c.clone())),
            _ => Err(sm.error(&at, "must be a non-empty list of values", None)),
        };
    }
    let pair = x.as_array().filter(|a| a.len() == 2);
    let Some(pair) = pair else {
        return Err(sm.error(&at, "must be a list of two numbers, [low, high]", None));
    };
    if name == "int" {
        let (Some(a), Some(b)) = (pair[0].as_i64(), pair[1].as_i64()) else {
            return Err(sm.error(&at, "must be two integers, [low, high]", Some("for real numbers use { uniform = [a, b] }".into())));
        };
        check_range(a as f64, b as f64, log.unwrap_or(false), &at, sm)?;
        return Ok(Dist::Int { low: a, high: b, log: log.unwrap_or(false) });
    }
    let (Some(a), Some(b)) = (pair[0].as_f64(), pair[1].as_f64()) else {
        return Err(sm.error(&at, "must be two numbers, [low, high]", None));
    };
    check_range(a, b, name == "log_uniform", &at, sm)?;
    Ok(if name == "uniform" { Dist::Uniform(a, b) } else { Dist::LogUniform(a, b) })
}

fn check_range(a: f64, b: f64, log: bool, at: &str, sm: &SourceMap) -> Result<(), ConfigError> {
    if a >= b {
        return Err(sm.error(at, format!("low must be below high, got [{a}, {b}]"), Some("for one fixed value set the model key itself".into())));
    }
    if log && a <= 0.0 {
        return Err(sm.error(at, format!("a log-spaced range needs low > 0, got {a}"), Some("drop log spacing, or start the range above 0".into())));
    }
    Ok(())
}

/// Where `v` sits in a `choice` list: the same value, numbers compared as numbers (32 = 32.0).
pub fn choice_index(choices: &[Value], v: &Value) -> Option<usize> {
    choices.iter().position(|c| c == v || matches!((c.as_f64(), v.as_f64()), (Some(a), Some(b)) if a == b))
}

/// Whether `v` is a value distribution `d` can propose.
pub(super) fn inside(d: &Dist, v: &Value) -> bool {
    match *d {
        Dist::Choice(ref c) => choice_index(c, v).is_some(),
        Dist::Uniform(a, b) | Dist::LogUniform(a, b) => v.as_f64().is_some_and(|x| (a..=b).contains(&x)),
        Dist::Int { low, high, .. } => v.as_i64().is_some_and(|x| (low..=high).contains(&x)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn dist(src: &str) -> Result<Dist, ConfigError> {
        let text = format!("[search.space]\nx = {src}\n");
        let sm = SourceMap::new(Path::new("t.toml"), text.clone());
        let v: Value = serde_json::to_value(text.parse::<toml::Table>().unwrap()).unwrap();
        parse_dist(&v["search"]["space"]["x"], "search.space.x", &sm)
    }

    #[test]
    fn distributions_parse_and_refuse_bad_ranges() {
        assert_eq!(dist("{ choice = [1, 2] }").unwrap(), Dist::Choice(vec![Value::from(1), Value::from(2)]));
        assert_eq!(dist("{ uniform = [0.1, 0.5] }").unwrap(), Dist::Uniform(0.1, 0.5));
        assert_eq!(dist("{ log_uniform = [1e-3, 1] }").unwrap(), Dist::LogUniform(1e-3, 1.0));
        assert_eq!(dist("{ int = [2, 8], log = true }").unwrap(), Dist::Int { low: 2, high: 8, log: true });
        let e = dist("{ unifrom = [0, 1] }").unwrap_err();
        assert_eq!((e.key.as_str(), e.line, e.hint.as_deref()), ("search.space.x.unifrom", Some(2), Some("did you mean `uniform`?")));
        let e = dist("{ uniform = [1, 0.5] }").unwrap_err();
        assert!(e.message.contains("low must be below high"), "{e}");
        let e = dist("{ log_uniform = [0, 1] }").unwrap_err();
        assert!(e.message.contains("needs low > 0"), "{e}");
        let e = dist("{ int = [0, 8], log = true }").unwrap_err();
        assert!(e.message.contains("needs low > 0"), "{e}");
        let e = dist("{ int = [0.5, 8] }").unwrap_err();
        assert!(e.message.contains("two integers"), "{e}");
        let e = dist("{ uniform = [0.1, 1], log = true }").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("use { log_uniform = [a, b] }"));
        assert!(dist("{ choice = [] }").is_err());
        assert!(dist("3").is_err());
    }
}
