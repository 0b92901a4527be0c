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

/// A point's name as people read it: its values by key, `window=5` or `dim=64,window=5`
/// (`base` for the empty point). A key is shown by the shortest tail of its dotted path
/// (model indexes left out) that no other key of the point shares, so `model.0.window` reads
/// `window` and `model.0.user.history` beside `model.0.item.history` keeps `user.history`.
/// The hash of [`point_id`] stays the key; this is for tables, logs, legends and `--point`.
pub fn point_name(overrides: &Overrides) -> String {
    if overrides.is_empty() {
        return "base".to_string();
    }
    named_pairs(overrides).into_iter().map(|(_, short, v)| format!("{short}={v}")).collect::<Vec<_>>().join(",")
}

/// `(full key, shown key, shown value)` of each override, in key order.
fn named_pairs(overrides: &Overrides) -> Vec<(String, String, String)> {
    let segs: Vec<Vec<String>> = overrides.keys().map(|k| key_segments(k).into_iter().filter(|s| s.parse::<usize>().is_err()).collect()).collect();
    let tail = |s: &[String], n: usize| s[s.len().saturating_sub(n)..].join(".");
    overrides
        .iter()
        .zip(&segs)
        .map(|((k, v), s)| {
            let n = (1..=s.len().max(1)).find(|&n| segs.iter().filter(|o| tail(o, n) == tail(s, n)).count() == 1).unwrap_or(s.len());
            (k.clone(), if s.is_empty() { k.clone() } else { tail(s, n) }, value_name(v))
        })
        .collect()
}

/// A value as a point's name shows it: text without quotes, lists in brackets, a table as
/// `kind(key=value,...)` (an `[index]` swept whole reads `hnsw(ef_search=10,m=16)`).
pub fn value_name(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(value_name).collect::<Vec<_>>().join(",")),
        Value::Object(m) => {
            let rest = m.iter().filter(|(k, _)| *k != "kind").map(|(k, v)| format!("{k}={}", value_name(v))).collect::<Vec<_>>().join(",");
            match m.get("kind") {
                Some(kind) => format!("{}({rest})", value_name(kind)),
                None => format!("({rest})"),
            }
        }
        other => other.to_string(),
    }
}

/// The parts of a point's name or a `--point` argument: split on the commas outside
/// brackets and parentheses (`hidden=[128,64],dim=8` is two parts).
fn name_parts(s: &str) -> Vec<String> {
    let (mut parts, mut cur, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in s.chars() {
        match c {
            '[' | '(' | '{' => depth += 1,
            ']' | ')' | '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur.trim().to_string());
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

/// Whether `--point <query>` names the point with `name` (its [`point_name`], possibly with
/// a prefix such as `tuned`), `id` and `overrides`: the id, the whole name, or some of its
/// `key=value` parts, a key given by any tail of its dotted path (`window=5`,
/// `item2vec.window=5`, `model.item2vec.window=5`).
pub fn point_matches(query: &str, id: &str, name: &str, overrides: &Overrides) -> bool {
    let query = query.trim();
    if query == id || query == name {
        return true;
    }
    let pairs = named_pairs(overrides);
    let parts = name_parts(name);
    let part_matches = |q: &str| {
        if parts.iter().any(|p| p == q) {
            return true;
        }
        let Some((k, v)) = q.split_once('=') else { return false };
        let (k, v) = (k.trim(), v.trim());
        pairs.iter().any(|(full, short, shown)| {
            let key = k == short || k == full || full.ends_with(&format!(".{k}")) || key_segments(full).join(".").ends_with(&format!(".{k}"));
            key && (v == shown || v.trim_matches('"') == shown)
        })
    };
    let q = name_parts(query);
    !q.is_empty() && q.iter().all(|p| part_matches(p))
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
    fn point_names_read_as_values_with_short_unique_keys() {
        let p: Overrides = [("model.0.window".to_string(), json!(5)), ("model.0.dim".to_string(), json!(64))].into_iter().collect();
        assert_eq!(point_name(&p), "dim=64,window=5");
        assert_eq!(point_name(&Overrides::new()), "base");
        let q: Overrides =
            [("model.0.user.history".to_string(), json!(10)), ("model.0.item.history".to_string(), json!(5)), ("model.0.lr".to_string(), json!(0.01))]
                .into_iter()
                .collect();
        assert_eq!(point_name(&q), "item.history=5,lr=0.01,user.history=10");
        let idx: Overrides = [("index".to_string(), json!({"kind": "hnsw", "m": 16, "ef_search": 10}))].into_iter().collect();
        assert_eq!(point_name(&idx), "index=hnsw(ef_search=10,m=16)");
        let arr: Overrides =
            [("model.two_tower.hidden".to_string(), json!([128, 64])), ("model.two_tower.act".to_string(), json!("relu"))].into_iter().collect();
        assert_eq!(point_name(&arr), "act=relu,hidden=[128,64]");
    }

    #[test]
    fn point_queries_match_ids_names_and_some_of_the_values() {
        let p: Overrides = [("model.0.window".to_string(), json!(5)), ("model.0.dim".to_string(), json!(64))].into_iter().collect();
        let (id, name) = (point_id(&p), point_name(&p));
        for q in [id.as_str(), "dim=64,window=5", "window=5", "window=5, dim=64", "model.0.window=5", "dim=64"] {
            assert!(point_matches(q, &id, &name, &p), "{q}");
        }
        for q in ["window=6", "window=5,dim=32", "negatives=5", "", "5"] {
            assert!(!point_matches(q, &id, &name, &p), "{q}");
        }
        let arr: Overrides = [("model.0.hidden".to_string(), json!([128, 64]))].into_iter().collect();
        assert!(point_matches("hidden=[128,64]", &point_id(&arr), &point_name(&arr), &arr));
        // A tuned point answers to `tuned` and to its sweep point's values.
        let base: Overrides = [("model.0.window".to_string(), json!(3))].into_iter().collect();
        let tuned = format!("tuned,{}", point_name(&base));
        assert!(point_matches("tuned", "tuned-abc", &tuned, &base) && point_matches("tuned,window=3", "tuned-abc", &tuned, &base));
        assert!(!point_matches("tuned,window=4", "tuned-abc", &tuned, &base));
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
