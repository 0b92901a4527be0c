//! `[report] baseline = "<model>"`: every other model's rows against the baseline's rows on
//! the same users. Per (model, sweep point) and metric column, each user's value is averaged
//! over the group's seeds and paired with the baseline's, averaged over the same seeds (at
//! the same point when the baseline has it); the paired t-test and the Wilcoxon signed-rank
//! test run on the differences, and Holm's correction runs over the groups compared in that
//! column. A cell is marked when both corrected p-values are below `alpha`.

use super::{stats, Row};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One comparison of a group with the baseline in one metric column.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Test {
    /// Users present on both sides.
    pub users: usize,
    /// Mean over users of (row - baseline).
    pub mean_diff: f64,
    pub t_p: f64,
    pub t_p_holm: f64,
    pub wilcoxon_p: f64,
    pub wilcoxon_p_holm: f64,
}

impl Test {
    pub fn significant(&self, alpha: f64) -> bool {
        self.t_p_holm < alpha && self.wilcoxon_p_holm < alpha
    }
}

/// (model, point) -> metric column -> test.
pub type Tests = BTreeMap<(String, String), BTreeMap<String, Test>>;

/// Per user, the mean of `col` over `rows` (users present in all of them).
fn user_means(rows: &[&Row], col: &str) -> HashMap<String, f64> {
    let mut sums: HashMap<String, (f64, usize)> = HashMap::new();
    for r in rows {
        let Some(pu) = &r.per_user else { continue };
        let Some(vals) = pu.columns.get(col) else { continue };
        for (u, v) in pu.users.iter().zip(vals) {
            let e = sums.entry(u.clone()).or_insert((0.0, 0));
            e.0 += v;
            e.1 += 1;
        }
    }
    sums.into_iter().filter(|(_, (_, n))| *n == rows.len()).map(|(u, (s, n))| (u, s / n as f64)).collect()
}

/// Tests of every non-baseline group that has per-user values.
pub fn against(baseline: &str, rows: &[Row]) -> Tests {
    let ok = |r: &&Row| r.result.is_ok() && r.per_user.is_some();
    let base: Vec<&Row> = rows.iter().filter(|r| r.run.model.name == baseline).filter(ok).collect();
    let mut groups: Vec<((String, String), Vec<&Row>)> = Vec::new();
    for r in rows.iter().filter(|r| r.run.model.name != baseline).filter(ok) {
        let key = (r.run.model.name.clone(), r.run.point_id.clone());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    // Raw tests, then Holm per column over the groups.
    let mut raw: BTreeMap<String, Vec<((String, String), Test)>> = BTreeMap::new();
    for (key, members) in &groups {
        let partners: Vec<&Row> = members
            .iter()
            .filter_map(|m| {
                let same_seed = base.iter().filter(|b| b.run.seed == m.run.seed);
                same_seed.clone().find(|b| b.run.point_id == m.run.point_id).or_else(|| same_seed.clone().next()).copied()
            })
            .collect();
        if partners.len() != members.len() {
            continue; // the baseline lacks one of the seeds
        }
        let cols: Vec<String> = members[0].per_user.as_ref().map(|p| p.columns.keys().cloned().collect()).unwrap_or_default();
        for col in cols {
            let (mine, theirs) = (user_means(members, &col), user_means(&partners, &col));
            let mut users: Vec<&String> = mine.keys().filter(|u| theirs.contains_key(*u)).collect();
            users.sort();
            if users.len() < 2 {
                continue;
            }
            let d: Vec<f64> = users.iter().map(|u| mine[*u] - theirs[*u]).collect();
            let test = Test {
                users: d.len(),
                mean_diff: d.iter().sum::<f64>() / d.len() as f64,
                t_p: stats::paired_t(&d),
                t_p_holm: f64::NAN,
                wilcoxon_p: stats::wilcoxon(&d),
                wilcoxon_p_holm: f64::NAN,
            };
            raw.entry(col).or_default().push((key.clone(), test));
        }
    }
    let mut out = Tests::new();
    for (col, mut tests) in raw {
        let t_adj = stats::holm(&tests.iter().map(|(_, t)| t.t_p).collect::<Vec<_>>());
        let w_adj = stats::holm(&tests.iter().map(|(_, t)| t.wilcoxon_p).collect::<Vec<_>>());
        for (i, (key, t)) in tests.iter_mut().enumerate() {
            t.t_p_holm = t_adj[i];
            t.wilcoxon_p_holm = w_adj[i];
            out.entry(key.clone()).or_default().insert(col.clone(), t.clone());
        }
    }
    out
}
