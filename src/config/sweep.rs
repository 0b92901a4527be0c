//! Sweeps: the cartesian product of `[sweep]` lists, applied as dotted-key overrides on the
//! raw config tree before validation, so every point is validated like a hand-written file.

use serde_json::Value;
use std::collections::BTreeMap;

/// One sweep point: dotted key -> value.
pub type Overrides = BTreeMap<String, Value>;

/// Cartesian product of `lists` (key order is the map's, so the expansion is stable).
pub fn expand(lists: &BTreeMap<String, Vec<Value>>) -> Vec<Overrides> {
    let mut points = vec![Overrides::new()];
    for (key, values) in lists {
        let mut next = Vec::with_capacity(points.len() * values.len());
        for p in &points {
            for v in values {
                let mut q = p.clone();
                q.insert(key.clone(), v.clone());
                next.push(q);
            }
        }
        points = next;
    }
    points
}

/// Short stable id of a point: the first 6 hex digits of the blake3 hash of its canonical
/// JSON, or `base` for the empty point.
pub fn point_id(overrides: &Overrides) -> String {
    if overrides.is_empty() {
        return "base".to_string();
    }
    let canon = crate::pipeline::key::canonical_json(&serde_json::to_value(overrides).unwrap_or(Value::Null));
    blake3::hash(canon.as_bytes()).to_hex()[..6].to_string()
}

/// Where a dotted path could not be set.
#[derive(Debug, PartialEq)]
pub struct SetError(pub String);

/// The segments of a dotted key as TOML reads it, so a quoted segment keeps its dots
/// (`sweep."model.0.threads"` is two segments, as in a file); a key TOML cannot read is
/// split on its dots.
pub fn key_segments(path: &str) -> Vec<String> {
    if let Ok(doc) = format!("{path} = 0").parse::<toml::Table>() {
        let mut segs = Vec::new();
        let mut cur = &doc;
        while cur.len() == 1 {
            let (k, v) = cur.iter().next().expect("one entry");
            segs.push(k.clone());
            match v {
                toml::Value::Table(t) => cur = t,
                _ => return segs,
            }
        }
    }
    path.split('.').map(str::to_string).collect()
}

/// Sets `path` (a dotted key, [`key_segments`]; numbers index arrays; for arrays of tables
/// with a `name`, a name selects the element) to `value` inside `tree`, creating missing
/// table keys.
pub fn set_path(tree: &mut Value, path: &str, value: Value) -> Result<(), SetError> {
    let owned = key_segments(path);
    let segs: Vec<&str> = owned.iter().map(String::as_str).collect();
    if segs.iter().any(|s| s.is_empty()) {
        return Err(SetError(format!("`{path}` is not a valid dotted key")));
    }
    let mut cur = tree;
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        cur = match cur {
            Value::Object(map) => {
                if last {
                    map.insert(seg.to_string(), value);
                    return Ok(());
                }
                map.entry(seg.to_string()).or_insert_with(|| Value::Object(Default::default()))
            }
            Value::Array(items) => {
                let idx = match seg.parse::<usize>() {
                    Ok(n) => n,
                    Err(_) => named(items, seg).ok_or_else(|| SetError(format!("`{}` has no element named `{seg}`", segs[..i].join("."))))?,
                };
                let len = items.len();
                let slot = items.get_mut(idx).ok_or_else(|| SetError(format!("`{}` has {len} elements, index {idx} is out of range", segs[..i].join("."))))?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            _ => return Err(SetError(format!("`{}` is not a table", segs[..i].join(".")))),
        };
    }
    Ok(())
}

/// The element of an array of tables named `name` (a model without a `name` is named by its
/// kind), as dotted paths address it.
pub fn named(items: &[Value], name: &str) -> Option<usize> {
    items.iter().position(|it| it.get("name").or_else(|| it.get("kind")).and_then(Value::as_str) == Some(name))
}

/// Parses a `--set` right-hand side as a TOML value (`32`, `0.5`, `true`, `[1, 2]`, `"x"`),
/// falling back to a bare string so `--set dataset.kind=synthetic` works unquoted.
pub fn parse_value(raw: &str) -> Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(t) => t.get("v").and_then(|v| serde_json::to_value(v).ok()).unwrap_or(Value::String(raw.to_string())),
        Err(_) => Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quoted_segments_keep_their_dots() {
        assert_eq!(key_segments("sweep.\"model.0.threads\""), ["sweep", "model.0.threads"]);
        assert_eq!(key_segments("model.0.dim"), ["model", "0", "dim"]);
        assert_eq!(key_segments("model.two-tower.dim"), ["model", "two-tower", "dim"]);
        let mut t = json!({"sweep": {}});
        set_path(&mut t, "sweep.'model.0.threads'", json!([1, 2])).unwrap();
        assert_eq!(t["sweep"]["model.0.threads"], json!([1, 2]));
        assert!(set_path(&mut t, "a..b", json!(1)).is_err());
    }

    #[test]
    fn expansion_is_the_cartesian_product() {
        let mut lists = BTreeMap::new();
        lists.insert("a".to_string(), vec![json!(1), json!(2), json!(3)]);
        lists.insert("b".to_string(), vec![json!("x"), json!("y")]);
        let pts = expand(&lists);
        assert_eq!(pts.len(), 6);
        let ids: std::collections::HashSet<_> = pts.iter().map(point_id).collect();
        assert_eq!(ids.len(), 6, "point ids must be distinct");
        assert_eq!(pts[0]["a"], json!(1));
        assert_eq!(pts[0]["b"], json!("x"));
        assert_eq!(pts[5]["a"], json!(3));
        assert_eq!(pts[5]["b"], json!("y"));
        assert_eq!(expand(&BTreeMap::new()), vec![Overrides::new()]);
    }

    #[test]
    fn point_ids_are_stable() {
        let mut p = Overrides::new();
        p.insert("model.0.dim".into(), json!(32));
        // Pinned: results folders, tables and `--point` name runs by these ids, so a change
        // of hashing or canonical form would silently rename every user's points.
        assert_eq!(point_id(&p), "de3aa9");
        let mut q = Overrides::new();
        q.insert("model.0.dim".into(), json!(32));
        q.insert("index.kind".into(), json!("hnsw"));
        assert_eq!(point_id(&q), "ce4fad");
        assert_eq!(point_id(&Overrides::new()), "base");
    }

    #[test]
    fn set_path_indexes_arrays_and_names() {
        let mut t = json!({"model": [{"kind": "a", "name": "first"}, {"kind": "b"}]});
        set_path(&mut t, "model.1.dim", json!(8)).unwrap();
        set_path(&mut t, "model.first.dim", json!(4)).unwrap();
        set_path(&mut t, "split.seed", json!(3)).unwrap();
        assert_eq!(t["model"][1]["dim"], json!(8));
        assert_eq!(t["model"][0]["dim"], json!(4));
        assert_eq!(t["split"]["seed"], json!(3));
        assert!(set_path(&mut t, "model.5.dim", json!(1)).is_err());
        assert!(set_path(&mut t, "model.nope.dim", json!(1)).is_err());
    }

    #[test]
    fn parse_value_reads_toml_scalars() {
        assert_eq!(parse_value("32"), json!(32));
        assert_eq!(parse_value("0.5"), json!(0.5));
        assert_eq!(parse_value("[1, 2]"), json!([1, 2]));
        assert_eq!(parse_value("synthetic"), json!("synthetic"));
        assert_eq!(parse_value("\"a b\""), json!("a b"));
    }
}
