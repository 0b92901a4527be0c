//! LaTeX tables for papers: booktabs rules, the best value of each metric column in bold and
//! the second best underlined (lower is better for Gini and AvgPop, higher for the rest).
//! Cells written `mean ± std` are ranked by their mean.

use super::Table;

/// Whether a lower value of metric column `col` is better.
pub fn lower_is_better(col: &str) -> bool {
    let m = col.split('@').next().unwrap_or(col);
    matches!(m, "Gini" | "AvgPop")
}

/// Whether "best" means anything for `col`: not for spreads (`... std`) and a
/// distribution's statistics (`sim p50`), whose better direction depends on the question.
pub fn ranked(col: &str) -> bool {
    !col.ends_with(" std") && (!col.starts_with("sim ") || col == "sim same-diff")
}

/// Escapes LaTeX's special characters in plain text.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '±' => out.push_str("$\\pm$"),
            '†' => out.push_str("$^\\dagger$"),
            _ => out.push(c),
        }
    }
    out
}

/// The leading number of a cell (`0.1234 ± 0.0056` -> 0.1234).
fn value(cell: &str) -> Option<f64> {
    cell.split_whitespace().next()?.trim_end_matches(super::DAGGER).parse().ok()
}

/// The table as a LaTeX `table` environment with a booktabs `tabular`.
pub fn to_latex(t: &Table) -> String {
    let n = t.header.len();
    // Per metric column: the row indices of the best and second-best values.
    let mut marks = vec![vec![""; n]; t.rows.len()];
    for (c, name) in t.header.iter().enumerate() {
        if !t.metric_cols.contains(name) || !ranked(name) {
            continue;
        }
        let mut vals: Vec<(f64, usize)> = t.rows.iter().enumerate().filter_map(|(r, row)| value(&row[c]).filter(|v| v.is_finite()).map(|v| (v, r))).collect();
        if lower_is_better(name) {
            vals.sort_by(|a, b| a.0.total_cmp(&b.0));
        } else {
            vals.sort_by(|a, b| b.0.total_cmp(&a.0));
        }
        let mut distinct = vals.iter().map(|v| v.0).collect::<Vec<_>>();
        distinct.dedup();
        for &(v, r) in &vals {
            if Some(&v) == distinct.first() {
                marks[r][c] = "best";
            } else if distinct.len() > 1 && Some(&v) == distinct.get(1) {
                marks[r][c] = "second";
            }
        }
    }
    let align: String = t.header.iter().map(|h| if t.metric_cols.contains(h) { 'r' } else { 'l' }).collect();
    let mut out = String::new();
    out += "% Needs \\usepackage{booktabs}.\n\\begin{table}[t]\n\\centering\n";
    out += &format!("\\caption{{{}}}\n", escape(&t.title));
    out += &format!("\\begin{{tabular}}{{{align}}}\n\\toprule\n");
    out += &(t.header.iter().map(|h| escape(h)).collect::<Vec<_>>().join(" & ") + " \\\\\n\\midrule\n");
    for (r, row) in t.rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| match marks[r][c] {
                "best" => format!("\\textbf{{{}}}", escape(cell)),
                "second" => format!("\\underline{{{}}}", escape(cell)),
                _ => escape(cell),
            })
            .collect();
        out += &(cells.join(" & ") + " \\\\\n");
    }
    out += "\\bottomrule\n\\end{tabular}\n\\end{table}\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let row = |m: &str, r: &str, g: &str| vec![m.to_string(), r.into(), g.into()];
        Table {
            title: "ml_100k & friends".into(),
            header: ["model", "Recall@10", "Gini@10"].map(String::from).to_vec(),
            rows: vec![row("pop_ular", "0.1000", "0.9000"), row("i2v", "0.3000 ± 0.0100", "0.5000"), row("n2v", "0.2000", "0.7000"), row("rnd", "-", "0.1000")],
            metric_cols: vec!["Recall@10".into(), "Gini@10".into()],
            ..Default::default()
        }
    }

    #[test]
    fn booktabs_structure_and_one_bold_per_column() {
        let tex = to_latex(&table());
        assert_eq!(tex.matches("\\begin{tabular}").count(), 1);
        assert_eq!(tex.matches("\\end{tabular}").count(), 1);
        assert!(tex.contains("\\toprule") && tex.contains("\\midrule") && tex.contains("\\bottomrule"));
        assert!(tex.contains("{llr}") || tex.contains("{lrr}"), "{tex}");
        let body: Vec<&str> = tex.lines().filter(|l| l.ends_with("\\\\")).collect();
        assert_eq!(body.len(), 5, "header + 4 rows");
        for l in &body {
            assert_eq!(l.matches(" & ").count(), 2, "three cells per line: {l}");
        }
        // Recall: i2v best (mean 0.30), n2v second; Gini (lower is better): rnd best, i2v second.
        assert!(tex.contains("\\textbf{0.3000 $\\pm$ 0.0100}"), "{tex}");
        assert!(tex.contains("\\underline{0.2000}"), "{tex}");
        assert!(tex.contains("\\textbf{0.1000} \\\\"), "{tex}");
        assert!(tex.contains("\\underline{0.5000}"), "{tex}");
        assert_eq!(tex.matches("\\textbf").count(), 2, "one bold per metric column");
        assert_eq!(tex.matches("\\underline").count(), 2);
        assert!(tex.contains("pop\\_ular") && tex.contains("ml\\_100k \\& friends"));
        // A spread has no "best": a std column stays unmarked.
        let mut t = table();
        t.header.push("Macro-F1 std".into());
        t.metric_cols.push("Macro-F1 std".into());
        for (r, row) in t.rows.iter_mut().enumerate() {
            row.push(format!("0.{r}000"));
        }
        assert_eq!(to_latex(&t).matches("\\textbf").count(), 2, "no bold in the std column");
        // Balanced braces.
        let open = tex.matches('{').count() - tex.matches("\\{").count();
        let close = tex.matches('}').count() - tex.matches("\\}").count();
        assert_eq!(open, close);
    }
}
