//! Config errors that point at the file, key and line, and suggest a fix.

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem in a config file (or in an override applied to it).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line of the key in the file, when it came from the file.
    pub line: Option<usize>,
    /// Dotted key path, e.g. `model.0.window`.
    pub key: String,
    pub message: String,
    /// "did you mean ..." or the list of allowed values.
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Locates dotted key paths in the TOML source text, for line numbers in errors.
pub struct SourceMap {
    pub file: PathBuf,
    text: String,
    doc: Option<toml_edit::ImDocument<String>>,
}

impl SourceMap {
    pub fn new(file: &Path, text: String) -> Self {
        let doc = toml_edit::ImDocument::parse(text.clone()).ok();
        SourceMap { file: file.to_path_buf(), text, doc }
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// 1-based line of the deepest prefix of `path` found in the file.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let doc = self.doc.as_ref()?;
        let mut node = Node::Item(doc.as_item());
        let mut span: Option<std::ops::Range<usize>> = None;
        let segs: Vec<&str> = path.split('.').filter(|s| !s.is_empty()).collect();
        for (i, seg) in segs.iter().copied().enumerate() {
            // A quoted dotted key (`"model.0.dim" = [..]` in [sweep]) is one key.
            if i + 1 < segs.len() {
                let rest = segs[i..].join(".");
                if let Some((k, _)) = node.table_like().and_then(|t| t.get_key_value(&rest)) {
                    span = k.span().or(span);
                    break;
                }
            }
            let next = match (seg.parse::<usize>(), &node) {
                (Ok(i), Node::Item(item)) => item.as_array_of_tables().and_then(|aot| aot.get(i)).map(|t| (t.span(), Node::Table(t))),
                _ => node.table_like().and_then(|t| t.get_key_value(seg)).map(|(k, v)| (k.span(), Node::Item(v))),
            };
            match next {
                Some((s, n)) => {
                    span = s.or(span);
                    node = n;
                }
                None => break,
            }
        }
        let start = span?.start;
        Some(self.text[..start.min(self.text.len())].matches('\n').count() + 1)
    }

    /// Builds an error for `key`, with the line filled in when the key is in the file.
    pub fn error(&self, key: &str, message: impl Into<String>, hint: Option<String>) -> ConfigError {
        ConfigError { file: self.file.clone(), line: self.line_of(key), key: key.to_string(), message: message.into(), hint }
    }
}

/// A position in the parsed document: tables inside an array of tables are not `Item`s.
enum Node<'a> {
    Item(&'a toml_edit::Item),
    Table(&'a toml_edit::Table),
}

impl<'a> Node<'a> {
    fn table_like(&self) -> Option<&'a dyn toml_edit::TableLike> {
        match self {
            Node::Item(i) => i.as_table_like(),
            Node::Table(t) => Some(*t),
        }
    }
}

pub use crate::params::nearest;

/// Turns serde's "unknown field `x`, expected one of `a`, `b`" (or "unknown variant")
/// into a hint naming the nearest valid key.
pub fn hint_from_serde(message: &str) -> Option<String> {
    if !(message.starts_with("unknown field") || message.starts_with("unknown variant")) {
        return None;
    }
    let ticks: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let (bad, allowed) = ticks.split_first()?;
    if allowed.is_empty() {
        return None;
    }
    match nearest(bad, allowed.iter().copied()) {
        Some(n) => Some(format!("did you mean `{n}`?")),
        None => Some(format!("allowed: {}", allowed.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_lines_of_nested_keys() {
        let text = "[experiment]\nname = \"x\"\n\n[[model]]\nkind = \"a\"\n\n[[model]]\nkind = \"b\"\ndimm = 3\n".to_string();
        let sm = SourceMap::new(Path::new("x.toml"), text);
        assert_eq!(sm.line_of("experiment.name"), Some(2));
        assert_eq!(sm.line_of("model.1.dimm"), Some(9));
        assert_eq!(sm.line_of("model.0.kind"), Some(5));
    }

    #[test]
    fn suggests_nearest_key() {
        let h = hint_from_serde("unknown field `dimm`, expected one of `dim`, `window`");
        assert_eq!(h.as_deref(), Some("did you mean `dim`?"));
        let h = hint_from_serde("unknown field `zzz`, expected one of `dim`, `window`");
        assert_eq!(h.as_deref(), Some("allowed: dim, window"));
    }
}
