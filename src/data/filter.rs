//! Interaction filters shared by every dataset kind: minimum rating and iterative k-core.

use super::{Dataset, IdMap, Interaction};
use crate::params::{self, ParamError, Validate};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The filter keys of `[dataset]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// Drop interactions rated below this (implicit-feedback conversion).
    pub min_rating: Option<f32>,
    /// Shorthand for `user_core = item_core = k_core`.
    pub k_core: Option<usize>,
    /// Keep users with at least this many interactions (applied iteratively with items).
    pub user_core: Option<usize>,
    pub item_core: Option<usize>,
}

impl Validate for FilterConfig {
    fn validate(&self) -> Result<(), ParamError> {
        if let Some(r) = self.min_rating {
            crate::ensure_param!(r.is_finite(), "min_rating", "must be a finite number");
        }
        Ok(())
    }
}

const KEYS: &[&str] = &["min_rating", "k_core", "user_core", "item_core"];

impl FilterConfig {
    /// Removes the filter keys from a `[dataset]` table and parses them.
    pub fn take(table: &mut Value) -> Result<FilterConfig, ParamError> {
        let mut picked = serde_json::Map::new();
        if let Some(m) = table.as_object_mut() {
            for k in KEYS {
                if let Some(v) = m.remove(*k) {
                    picked.insert(k.to_string(), v);
                }
            }
        }
        params::parse(&Value::Object(picked))
    }

    fn cores(&self) -> (usize, usize) {
        let k = self.k_core.unwrap_or(0);
        (self.user_core.unwrap_or(k), self.item_core.unwrap_or(k))
    }

    /// The filter as the config writes it, e.g. `min_rating = 4, k_core = 5`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = self.min_rating {
            parts.push(format!("min_rating = {r}"));
        }
        for (k, v) in [("k_core", self.k_core), ("user_core", self.user_core), ("item_core", self.item_core)] {
            if let Some(v) = v {
                parts.push(format!("{k} = {v}"));
            }
        }
        if parts.is_empty() {
            "no filter".into()
        } else {
            parts.join(", ")
        }
    }

    pub fn is_noop(&self) -> bool {
        self.min_rating.is_none() && self.cores() == (0, 0)
    }
}

/// Applies `cfg` and re-densifies ids (keeping raw ids, titles and feature rows aligned).
pub fn apply(mut ds: Dataset, cfg: &FilterConfig) -> Dataset {
    if cfg.is_noop() {
        return ds;
    }
    if let Some(r) = cfg.min_rating {
        ds.interactions.retain(|it| it.rating >= r);
    }
    let (uc, ic) = cfg.cores();
    // Iterative k-core: removing a user can push an item under its threshold and back.
    loop {
        let mut ucount = vec![0usize; ds.n_users()];
        let mut icount = vec![0usize; ds.n_items()];
        for it in &ds.interactions {
            ucount[it.user as usize] += 1;
            icount[it.item as usize] += 1;
        }
        let before = ds.interactions.len();
        ds.interactions.retain(|it| ucount[it.user as usize] >= uc && icount[it.item as usize] >= ic);
        if ds.interactions.len() == before {
            break;
        }
    }
    densify(ds)
}

/// Drops users and items with no interaction left and renumbers the rest in first-seen
/// order of their old ids.
fn densify(ds: Dataset) -> Dataset {
    let mut user_keep = vec![false; ds.n_users()];
    let mut item_keep = vec![false; ds.n_items()];
    for it in &ds.interactions {
        user_keep[it.user as usize] = true;
        item_keep[it.item as usize] = true;
    }
    let remap = |keep: &[bool]| {
        let mut new_of_old = vec![u32::MAX; keep.len()];
        let mut olds = Vec::new();
        for (old, &k) in keep.iter().enumerate() {
            if k {
                new_of_old[old] = olds.len() as u32;
                olds.push(old as u32);
            }
        }
        (new_of_old, olds)
    };
    let (unew, uold) = remap(&user_keep);
    let (inew, iold) = remap(&item_keep);
    let interactions = ds.interactions.iter().map(|it| Interaction { user: unew[it.user as usize], item: inew[it.item as usize], ..*it }).collect();
    let subset = |m: &IdMap, olds: &[u32]| IdMap::from_raws(olds.iter().map(|&o| m.raw(o).to_string()).collect());
    Dataset {
        name: ds.name.clone(),
        interactions,
        users: subset(&ds.users, &uold),
        items: subset(&ds.items, &iold),
        item_titles: ds.item_titles.as_ref().map(|t| iold.iter().map(|&o| t[o as usize].clone()).collect()),
        user_features: ds.user_features.select_rows(&uold),
        item_features: ds.item_features.select_rows(&iold),
        // Node ids would no longer match; the data stage refuses filters on graph datasets.
        graph: None,
        // Likewise base rows and neighbour ids (the config refuses filters on vectors),
        // and a shipped split's boundaries (refused on `given` datasets).
        vectors: None,
        given: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(pairs: &[(u32, u32, f32)]) -> Dataset {
        let mut d = Dataset::default();
        for &(u, i, r) in pairs {
            let u = d.users.intern(&format!("u{u}"));
            let i = d.items.intern(&format!("i{i}"));
            d.interactions.push(Interaction { user: u, item: i, rating: r, ts: 0 });
        }
        d
    }

    #[test]
    fn k_core_is_iterative() {
        // u0 has 2 items; u1 has 2; u2 has 1 (i2). Removing u2 leaves i2 with 1 user -> goes.
        let d = ds(&[(0, 0, 5.0), (0, 1, 5.0), (1, 0, 5.0), (1, 1, 5.0), (1, 2, 5.0), (2, 2, 5.0)]);
        let f = FilterConfig { k_core: Some(2), ..Default::default() };
        let out = apply(d, &f);
        assert_eq!(out.n_users(), 2);
        assert_eq!(out.n_items(), 2);
        assert_eq!(out.interactions.len(), 4);
        assert!(out.items.get("i2").is_none());
    }

    #[test]
    fn min_rating_drops_and_renumbers() {
        let d = ds(&[(0, 0, 1.0), (0, 1, 4.0), (1, 1, 5.0)]);
        let out = apply(d, &FilterConfig { min_rating: Some(4.0), ..Default::default() });
        assert_eq!(out.n_items(), 1);
        assert_eq!(out.items.raw(0), "i1");
        assert!(out.interactions.iter().all(|it| it.item == 0));
    }
}
