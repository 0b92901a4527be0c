//! `runner compare A B`: two finished experiments side by side. For every metric column the
//! two share, each run of B is paired with A's run of the same model, sweep point and seed
//! (or the same model and seed when the points differ and A has one), and the paired t-test
//! and Wilcoxon signed-rank test run on the users both evaluated (matched by raw id), Holm-
//! corrected over the pairs of the column.

use super::{stats, Row};
use crate::config::Experiment;
use std::collections::{BTreeMap, HashMap};

/// One compared pair in one column.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    pub model: String,
    pub point: String,
    pub seed: u64,
    pub a: f64,
    pub b: f64,
    /// Users evaluated by both (0: no per-user values to test).
    pub users: usize,
    pub t_p_holm: f64,
    pub wilcoxon_p_holm: f64,
}

/// Column -> compared pairs.
pub fn compare(a: &[Row], b: &[Row]) -> BTreeMap<String, Vec<Pair>> {
    let ok = |r: &&Row| r.result.is_ok();
    let mut raw: BTreeMap<String, Vec<(Pair, f64, f64)>> = BTreeMap::new();
    for rb in b.iter().filter(ok) {
        let same = |ra: &&Row| ra.run.model.name == rb.run.model.name && ra.run.seed == rb.run.seed;
        let candidates: Vec<&Row> = a.iter().filter(ok).filter(same).collect();
        let partner = candidates.iter().find(|ra| ra.run.point_id == rb.run.point_id).or(if candidates.len() == 1 { candidates.first() } else { None });
        let Some(ra) = partner else { continue };
        let (Ok(sa), Ok(sb)) = (&ra.result, &rb.result) else { continue };
        for (col, &vb) in &sb.metrics {
            let Some(&va) = sa.metrics.get(col) else { continue };
            let mut d = Vec::new();
            if let (Some(pa), Some(pb)) = (&ra.per_user, &rb.per_user) {
                if let (Some(ca), Some(cb)) = (pa.columns.get(col), pb.columns.get(col)) {
                    let index: HashMap<&str, f64> = pa.users.iter().map(String::as_str).zip(ca.iter().copied()).collect();
                    d = pb.users.iter().zip(cb).filter_map(|(u, &x)| index.get(u.as_str()).map(|&y| x - y)).collect();
                }
            }
            let (t, w) = if d.len() >= 2 { (stats::paired_t(&d), stats::wilcoxon(&d)) } else { (f64::NAN, f64::NAN) };
            let pair = Pair {
                model: rb.run.model.name.clone(),
                point: rb.run.point_name.clone(),
                seed: rb.run.seed,
                a: va,
                b: vb,
                users: d.len(),
                t_p_holm: f64::NAN,
                wilcoxon_p_holm: f64::NAN,
            };
            raw.entry(col.clone()).or_default().push((pair, t, w));
        }
    }
    let mut out = BTreeMap::new();
    for (col, pairs) in raw {
        let tested: Vec<usize> = (0..pairs.len()).filter(|&i| pairs[i].1.is_finite()).collect();
        let t_adj = stats::holm(&tested.iter().map(|&i| pairs[i].1).collect::<Vec<_>>());
        let w_adj = stats::holm(&tested.iter().map(|&i| pairs[i].2).collect::<Vec<_>>());
        let mut done: Vec<Pair> = pairs.into_iter().map(|(p, _, _)| p).collect();
        for (j, &i) in tested.iter().enumerate() {
            done[i].t_p_holm = t_adj[j];
            done[i].wilcoxon_p_holm = w_adj[j];
        }
        out.insert(col, done);
    }
    out
}

/// The comparison as Markdown: one table per column.
pub fn to_markdown(ea: &Experiment, eb: &Experiment, cols: &BTreeMap<String, Vec<Pair>>) -> String {
    let (na, nb) = (&ea.section.name, &eb.section.name);
    let mut out =
        format!("# {nb} against {na}\n\nPaired tests on the users both evaluated (paired t-test and Wilcoxon signed-rank, Holm-corrected per column).\n");
    let p = |x: f64| if x.is_finite() { format!("{x:.3e}") } else { "-".into() };
    let col_esc = |c: &str| super::md_cell(c);
    for (col, pairs) in cols {
        let col = col_esc(col);
        out += &format!(
            "\n## {col}\n\n| model | point | seed | {na} | {nb} | difference | users | p (t-test) | p (Wilcoxon) |\n|---|---|---|---|---|---|---|---|---|\n"
        );
        for q in pairs {
            out += &format!(
                "| {} | {} | {} | {:.4} | {:.4} | {:+.4} | {} | {} | {} |\n",
                super::md_cell(&q.model),
                super::md_cell(&q.point),
                q.seed,
                q.a,
                q.b,
                q.b - q.a,
                q.users,
                p(q.t_p_holm),
                p(q.wilcoxon_p_holm)
            );
        }
    }
    out
}
