//! Stage keys: a blake3 hash of the canonical JSON of exactly the config that affects a
//! stage, its upstream keys and the stage's code version.

use serde_json::Value;

/// JSON with object keys sorted at every level and no whitespace, so equal configs hash
/// equally whatever order the file wrote them in.
pub fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys.iter().map(|k| format!("{}:{}", Value::String((*k).clone()), canonical_json(&m[*k]))).collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canonical_json).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// The key of a stage: 32 hex digits of blake3 over stage name, code version, config slice
/// and upstream keys.
pub fn stage_key(stage: &str, version: u32, config: &Value, upstream: &[&str]) -> String {
    let payload = serde_json::json!({
        "stage": stage,
        "version": version,
        "config": config,
        "upstream": upstream,
    });
    blake3::hash(canonical_json(&payload).as_bytes()).to_hex()[..32].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_ignores_key_order() {
        let a = json!({"b": 1, "a": {"y": [1, 2], "x": "s"}});
        let b = json!({"a": {"x": "s", "y": [1, 2]}, "b": 1});
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(stage_key("s", 1, &a, &["u"]), stage_key("s", 1, &b, &["u"]));
        assert_ne!(stage_key("s", 1, &a, &["u"]), stage_key("s", 2, &a, &["u"]));
        assert_ne!(stage_key("s", 1, &a, &["u"]), stage_key("s", 1, &a, &["v"]));
        assert_ne!(canonical_json(&json!([1, 2])), canonical_json(&json!([2, 1])));
    }
}
